/*
 * libc-check: self-checking C guest for wasi-libc (built with zig cc --target=wasm32-wasi).
 *
 * Exercises stdio (fopen/fprintf/fputs/fread/fgets/fseek/ftell), dirent (opendir/readdir),
 * sys/stat (stat/fstat/mkdir), unistd (access/unlink/rmdir/lseek/read/write/close/getcwd),
 * stdio rename, time (clock_gettime, nanosleep, time), getenv and argv, plus errno values
 * for the usual failures. Prints one deterministic line per check ("ok ..." / "FAIL ...")
 * and exits 0 only if every check passed.
 *
 * Run with: preopen /sandbox (writable, may be empty), args `one "two words"`,
 * env LIBC_CHECK=yes.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int passed, failed;

static void check(int cond, const char *what) {
    if (cond) {
        passed++;
        printf("ok %s\n", what);
    } else {
        failed++;
        printf("FAIL %s (errno %d: %s)\n", what, errno, strerror(errno));
    }
}

#define BASE "/sandbox/libc-check.tmp"

static long long ns(const struct timespec *t) {
    return (long long)t->tv_sec * 1000000000LL + t->tv_nsec;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Removes BASE and what this program may have left in it (not a check). */
static void clean(void) {
    const char *files[] = {BASE "/a.txt", BASE "/b.txt", BASE "/c.txt", BASE "/sub/x", BASE "/raw.bin"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) unlink(files[i]);
    rmdir(BASE "/sub");
    rmdir(BASE);
}

int main(int argc, char **argv) {
    printf("== libc-check\n");

    /* argv and environment */
    check(argc == 3, "argc is 3");
    check(argc == 3 && strcmp(argv[1], "one") == 0 && strcmp(argv[2], "two words") == 0,
          "argv[1..] are \"one\" \"two words\"");
    const char *v = getenv("LIBC_CHECK");
    check(v != NULL && strcmp(v, "yes") == 0, "getenv(LIBC_CHECK) is \"yes\"");
    check(getenv("LIBC_CHECK_MISSING") == NULL, "getenv of an unset variable is NULL");

    clean();
    check(mkdir(BASE, 0755) == 0, "mkdir scratch directory");
    errno = 0;
    check(mkdir(BASE, 0755) == -1 && errno == EEXIST, "mkdir existing -> EEXIST");
    check(mkdir(BASE "/sub", 0755) == 0, "mkdir sub");

    /* stdio write / read */
    FILE *f = fopen(BASE "/a.txt", "w");
    check(f != NULL, "fopen w");
    if (f) {
        check(fprintf(f, "line %d: %s\n", 1, "hello") == 14, "fprintf returns 14");
        check(fputs("line 2: world\n", f) >= 0, "fputs");
        check(fclose(f) == 0, "fclose after write");
    }
    f = fopen(BASE "/a.txt", "r");
    check(f != NULL, "fopen r");
    if (f) {
        char line[64];
        check(fgets(line, sizeof line, f) && strcmp(line, "line 1: hello\n") == 0, "fgets first line");
        check(fgets(line, sizeof line, f) && strcmp(line, "line 2: world\n") == 0, "fgets second line");
        check(fgets(line, sizeof line, f) == NULL && feof(f), "fgets at EOF returns NULL, feof set");
        check(fseek(f, 5, SEEK_SET) == 0 && ftell(f) == 5, "fseek/ftell to 5");
        char buf[8] = {0};
        check(fread(buf, 1, 3, f) == 3 && memcmp(buf, "1: ", 3) == 0, "fread 3 bytes at 5");
        check(fseek(f, 0, SEEK_END) == 0 && ftell(f) == 28, "file length via SEEK_END is 28");
        check(fclose(f) == 0, "fclose after read");
    }
    f = fopen(BASE "/a.txt", "a");
    if (f) {
        fputs("line 3: appended\n", f);
        fclose(f);
    }
    struct stat st;
    check(stat(BASE "/a.txt", &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 45, "stat: regular, 45 bytes after append");
    check(stat(BASE "/sub", &st) == 0 && S_ISDIR(st.st_mode), "stat: sub is a directory");
    errno = 0;
    check(stat(BASE "/missing", &st) == -1 && errno == ENOENT, "stat missing -> ENOENT");
    errno = 0;
    check(fopen(BASE "/missing/x", "r") == NULL && errno == ENOENT, "fopen in a missing directory -> ENOENT");
    errno = 0;
    check(fopen(BASE "/sub", "w") == NULL && errno == EISDIR, "fopen a directory for writing -> EISDIR");

    /* unistd level I/O */
    int fd = open(BASE "/raw.bin", O_CREAT | O_RDWR | O_TRUNC, 0644);
    check(fd >= 0, "open O_CREAT|O_RDWR");
    if (fd >= 0) {
        unsigned char data[256];
        for (int i = 0; i < 256; i++) data[i] = (unsigned char)i;
        check(write(fd, data, sizeof data) == 256, "write 256 bytes");
        check(lseek(fd, 100, SEEK_SET) == 100, "lseek to 100");
        unsigned char b[4];
        check(read(fd, b, 4) == 4 && b[0] == 100 && b[3] == 103, "read 4 bytes at 100");
        check(fstat(fd, &st) == 0 && st.st_size == 256, "fstat size 256");
        check(ftruncate(fd, 10) == 0 && fstat(fd, &st) == 0 && st.st_size == 10, "ftruncate to 10");
        check(close(fd) == 0, "close");
        errno = 0;
        check(close(fd) == -1 && errno == EBADF, "close again -> EBADF");
    }
    check(access(BASE "/raw.bin", F_OK) == 0, "access existing");
    errno = 0;
    check(access(BASE "/nope", F_OK) == -1 && errno == ENOENT, "access missing -> ENOENT");

    /* rename, directory listing */
    check(rename(BASE "/a.txt", BASE "/b.txt") == 0, "rename a.txt -> b.txt");
    check(access(BASE "/a.txt", F_OK) == -1, "a.txt gone after rename");
    f = fopen(BASE "/c.txt", "w");
    if (f) fclose(f);
    f = fopen(BASE "/sub/x", "w");
    if (f) fclose(f);
    DIR *d = opendir(BASE);
    check(d != NULL, "opendir");
    if (d) {
        char *names[16];
        int n = 0;
        struct dirent *e;
        while ((e = readdir(d)) != NULL && n < 16) {
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) names[n++] = strdup(e->d_name);
        }
        closedir(d);
        qsort(names, (size_t)n, sizeof *names, cmp_str);
        char joined[128] = "";
        for (int i = 0; i < n; i++) {
            strcat(joined, names[i]);
            strcat(joined, i + 1 < n ? "," : "");
            free(names[i]);
        }
        printf("listing: %s\n", joined);
        check(strcmp(joined, "b.txt,c.txt,raw.bin,sub") == 0, "readdir lists b.txt,c.txt,raw.bin,sub");
    }
    errno = 0;
    check(opendir(BASE "/b.txt") == NULL && errno == ENOTDIR, "opendir on a file -> ENOTDIR");
    errno = 0;
    check(rmdir(BASE "/sub") == -1 && errno == ENOTEMPTY, "rmdir non-empty -> ENOTEMPTY");
    check(unlink(BASE "/sub/x") == 0, "unlink sub/x");
    check(rmdir(BASE "/sub") == 0, "rmdir sub");
    errno = 0;
    check(unlink(BASE "/sub/x") == -1 && errno == ENOENT, "unlink missing -> ENOENT");

    /* time */
    struct timespec rt, m0, m1, res;
    check(clock_gettime(CLOCK_REALTIME, &rt) == 0 && rt.tv_sec > 1577836800, "clock_gettime REALTIME after 2020");
    check(clock_getres(CLOCK_MONOTONIC, &res) == 0 && ns(&res) > 0, "clock_getres MONOTONIC > 0");
    time_t t = time(NULL);
    check(t >= rt.tv_sec && t - rt.tv_sec < 60, "time() agrees with CLOCK_REALTIME");
    clock_gettime(CLOCK_MONOTONIC, &m0);
    struct timespec req = {0, 20 * 1000 * 1000};
    check(nanosleep(&req, NULL) == 0, "nanosleep 20 ms");
    clock_gettime(CLOCK_MONOTONIC, &m1);
    check(ns(&m1) - ns(&m0) >= 20000000LL, "CLOCK_MONOTONIC advanced >= 20 ms");
    struct tm tm;
    time_t fixed = 1700000000;
    check(gmtime_r(&fixed, &tm) && tm.tm_year == 123 && tm.tm_mon == 10 && tm.tm_mday == 14, "gmtime_r(1700000000) is 2023-11-14");

    /* formatting and memory */
    char s[64];
    snprintf(s, sizeof s, "%.3f|%5d|%-4s|%x", 3.14159, 42, "ab", 255);
    check(strcmp(s, "3.142|   42|ab  |ff") == 0, "snprintf formats floats, widths, hex");
    size_t big = 8u << 20;
    unsigned char *p = malloc(big);
    check(p != NULL, "malloc 8 MiB");
    if (p) {
        memset(p, 0x5a, big);
        check(p[0] == 0x5a && p[big - 1] == 0x5a, "8 MiB block is usable");
        free(p);
    }

    clean();
    check(access(BASE, F_OK) == -1, "scratch directory removed");
    printf("== libc-check: %s (%d ok, %d failed)\n", failed ? "FAILED" : "all checks ok", passed, failed);
    return failed ? 1 : 0;
}
