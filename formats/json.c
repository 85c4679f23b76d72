/* json.c: the common JSON convention (lb_json.h). */
#include "lb_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb_dtype.h"

/* Exact for every u64 (cJSON's own number printer switches to exponents at 1e15). */
cJSON *lb_json_u64(uint64_t v)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
    return cJSON_CreateRaw(buf);
}

cJSON *lb_json_doc(const char *tool)
{
    cJSON *d = cJSON_CreateObject();
    if (!d) return NULL;
    cJSON_AddNumberToObject(d, "lowbit", LB_JSON_SCHEMA);
    cJSON_AddStringToObject(d, "tool", tool);
    return d;
}

cJSON *lb_json_tensor(const lb_tensor *t)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    const lb_type_traits *tt = lb_type_get(t->type);
    cJSON_AddStringToObject(o, "name", t->name);
    cJSON_AddStringToObject(o, "dtype", tt ? tt->name : "unknown");
    cJSON *shape = cJSON_AddArrayToObject(o, "shape");
    for (int i = 0; i < t->ndim; i++) cJSON_AddItemToArray(shape, lb_json_u64(t->shape[i]));
    cJSON_AddItemToObject(o, "offset", lb_json_u64(t->offset));
    cJSON_AddItemToObject(o, "bytes", lb_json_u64(t->nbytes));
    return o;
}

cJSON *lb_json_totals(lb_totals t)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddItemToObject(o, "tensors", lb_json_u64(t.tensors));
    cJSON_AddItemToObject(o, "params", lb_json_u64(t.params));
    cJSON_AddItemToObject(o, "bytes", lb_json_u64(t.bytes));
    cJSON_AddNumberToObject(o, "bpw", t.bpw);
    return o;
}

cJSON *lb_json_value(const lb_value *v)
{
    switch (v->type) {
    case LB_V_U8: case LB_V_U16: case LB_V_U32: case LB_V_U64:
        return lb_json_u64(v->v.u);
    case LB_V_I8: case LB_V_I16: case LB_V_I32: case LB_V_I64:
        return cJSON_CreateNumber((double)v->v.i);
    case LB_V_F32: case LB_V_F64:
        return cJSON_CreateNumber(v->v.f);
    case LB_V_BOOL:
        return cJSON_CreateBool(v->v.u != 0);
    case LB_V_STR:
        return cJSON_CreateString(v->v.s);  /* stops at an embedded NUL */
    case LB_V_ARR: {
        cJSON *a = cJSON_CreateArray();
        for (uint64_t i = 0; a && i < v->n; i++) cJSON_AddItemToArray(a, lb_json_value(&v->v.arr[i]));
        return a;
    }
    default:
        return cJSON_CreateNull();
    }
}

char *lb_json_print(const cJSON *doc)
{
    char *s = cJSON_Print(doc);
    if (!s) return NULL;
    size_t n = strlen(s);
    char *r = realloc(s, n + 2);
    if (!r) { free(s); return NULL; }
    r[n] = '\n';
    r[n + 1] = 0;
    return r;
}
