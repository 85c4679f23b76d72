/* test_zip_libarchive.c: lowbit's strict zip reader and libarchive list the same entries
 * (names, sizes, and contents of every entry) on real zips: a torch.save checkpoint,
 * NumPy's .npz, and a deflated checkpoint. */
#include <archive.h>
#include <archive_entry.h>
#include <stdlib.h>
#include <string.h>

#include "lb_io.h"
#include "lb_zip.h"
#include "tap.h"

static void compare(const char *label, const char *path)
{
    tap_begin("zip reader == libarchive: %s", label);
    lb_err e;
    lb_src *s = NULL;
    lb_zip *z = NULL;
    CHECK(lb_src_open(&s, path, &e) == LB_OK, "open %s: %s", path, e.msg);
    if (s) CHECK(lb_zip_open_src(&z, s, 0, &e) == LB_OK, "lb_zip: %s", e.msg);
    struct archive *a = archive_read_new();
    archive_read_support_format_zip(a);
    CHECK(archive_read_open_filename(a, path, 65536) == ARCHIVE_OK, "libarchive open");
    struct archive_entry *ae;
    size_t n = 0;
    while (z && archive_read_next_header(a, &ae) == ARCHIVE_OK) {
        const char *name = archive_entry_pathname(ae);
        const lb_zip_entry *ze = lb_zip_find(z, name);
        CHECK(ze != NULL, "libarchive lists '%s', lowbit does not", name);
        if (ze) {
            CHECK((int64_t)ze->usize == archive_entry_size(ae), "'%s': size %llu vs %lld", name,
                  (unsigned long long)ze->usize, (long long)archive_entry_size(ae));
            uint8_t *ours = NULL;
            size_t len = 0;
            CHECK(lb_zip_read(z, ze, 1u << 28, &ours, &len, &e) == LB_OK, "'%s': read: %s", name, e.msg);
            uint8_t *theirs = malloc(len + 1);
            la_ssize_t got = archive_read_data(a, theirs, len + 1);
            CHECK(got == (la_ssize_t)len && ours && !memcmp(ours, theirs, len), "'%s': contents differ", name);
            free(ours);
            free(theirs);
        }
        n++;
    }
    CHECK(z && n == lb_zip_count(z) && n > 0, "%zu entries from libarchive, %zu from lowbit", n, z ? lb_zip_count(z) : 0);
    archive_read_free(a);
    lb_zip_close(z);
    lb_src_close(s);
    tap_end();
}

int main(void)
{
    const char *root = getenv("LOWBIT_ROOT") ? getenv("LOWBIT_ROOT") : ".";
    char p[2048];
    snprintf(p, sizeof p, "%s/tests/data/pytorch/deflated.pt", root);
    compare("deflated torch checkpoint (tests/data/pytorch)", p);
    const char *sh = tap_shared();
    if (!sh) {
        tap_skip("zip reader == libarchive on shared files", "needs ../shared/models (hf/stories260K-llama/pytorch_model.bin, numpy/candle-test.npz)");
        TAP_EXIT();
    }
    snprintf(p, sizeof p, "%s/models/hf/stories260K-llama/pytorch_model.bin", sh);
    compare("torch.save zip (stories260K pytorch_model.bin)", p);
    snprintf(p, sizeof p, "%s/models/numpy/candle-test.npz", sh);
    compare("numpy .npz", p);
    TAP_EXIT();
}
