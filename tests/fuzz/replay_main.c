/* replay_main.c: feed every file under the given folders (or files) to a fuzz target once,
 * so `make test` re-runs the seed corpus and every past crash. Prints one PASS per file. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) { printf("FAIL %s: cannot open\n", path); return 1; }
    uint8_t *buf = malloc(1 << 24);
    size_t n = buf ? fread(buf, 1, 1 << 24, f) : 0;
    fclose(f);
    if (!buf) return 1;
    LLVMFuzzerTestOneInput(buf, n);
    free(buf);
    printf("PASS replay %s\n", strrchr(path, '/') ? strrchr(path, '/') + 1 : path);
    return 0;
}

int main(int argc, char **argv)
{
    int bad = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) { printf("SKIP replay %s: no corpus\n", argv[i]); continue; }
        if (!S_ISDIR(st.st_mode)) { bad |= replay_file(argv[i]); continue; }
        DIR *d = opendir(argv[i]);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (e->d_name[0] == '.') continue;
            char p[4096];
            snprintf(p, sizeof p, "%s/%s", argv[i], e->d_name);
            bad |= replay_file(p);
        }
        if (d) closedir(d);
    }
    return bad;
}
