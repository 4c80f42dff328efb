/*
 * libc-more: second self-checking C guest for wasi-libc (zig cc --target=wasm32-wasi).
 *
 * Covers what libc-check does not: the emulated working directory (getcwd/chdir and
 * relative paths), symlink/readlink/lstat, link, pread/pwrite, fsync/fdatasync,
 * posix_fadvise, utimensat/futimens, scandir, getentropy, sched_yield, clock_nanosleep,
 * stderr output, and exit() running atexit handlers. One deterministic line per check
 * on stdout; one fixed line on stderr; exit status 0 only if every check passed.
 *
 * Run with: preopen /sandbox (writable, may be empty); no args or env needed.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
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

#define BASE "/sandbox/libc-more.tmp"

static void clean(void) {
    const char *files[] = {BASE "/f.txt", BASE "/link", BASE "/hard", BASE "/d/x", BASE "/d/y"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) unlink(files[i]);
    rmdir(BASE "/d");
    rmdir(BASE);
}

static void at_exit_handler(void) {
    printf("atexit handler ran (%d ok, %d failed)\n", passed, failed);
}

static int no_dots(const struct dirent *e) {
    return strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
}

int main(void) {
    printf("== libc-more\n");
    fprintf(stderr, "libc-more: stderr works\n");
    check(atexit(at_exit_handler) == 0, "atexit registers a handler");
    clean();
    check(mkdir(BASE, 0755) == 0, "mkdir scratch directory");

    /* emulated current directory */
    char cwd[256];
    check(chdir(BASE) == 0, "chdir into the scratch directory");
    check(getcwd(cwd, sizeof cwd) && strcmp(cwd, BASE) == 0, "getcwd returns it");
    FILE *f = fopen("f.txt", "w");
    check(f != NULL, "fopen with a relative path");
    if (f) {
        fputs("0123456789", f);
        fclose(f);
    }
    check(access(BASE "/f.txt", F_OK) == 0, "relative file is at the absolute path");
    check(mkdir("d", 0755) == 0 && chdir("d") == 0, "mkdir d and chdir into it");
    check(getcwd(cwd, sizeof cwd) && strcmp(cwd, BASE "/d") == 0, "getcwd after a relative chdir");
    check(access("../f.txt", F_OK) == 0, "../ resolves against the emulated cwd");
    check(chdir("..") == 0, "chdir ..");
    errno = 0;
    check(chdir("f.txt") == -1 && errno == ENOTDIR, "chdir into a file -> ENOTDIR");

    /* positional I/O and syncs */
    int fd = open("f.txt", O_RDWR);
    check(fd >= 0, "open O_RDWR");
    if (fd >= 0) {
        char b[4] = {0};
        check(pread(fd, b, 3, 4) == 3 && memcmp(b, "456", 3) == 0, "pread 3 at 4");
        check(pwrite(fd, "AB", 2, 8) == 2, "pwrite 2 at 8");
        check(lseek(fd, 0, SEEK_CUR) == 0, "pread/pwrite keep the offset at 0");
        check(pread(fd, b, 4, 6) == 4 && memcmp(b, "67AB", 4) == 0, "pwrite is visible");
        check(fsync(fd) == 0, "fsync");
        check(fdatasync(fd) == 0, "fdatasync");
        check(posix_fadvise(fd, 0, 10, POSIX_FADV_SEQUENTIAL) == 0, "posix_fadvise SEQUENTIAL");
        struct timespec ts[2] = {{1000000000, 5}, {1200000000, 7}};
        check(futimens(fd, ts) == 0, "futimens");
        struct stat st;
        check(fstat(fd, &st) == 0 && st.st_mtim.tv_sec == 1200000000 && st.st_mtim.tv_nsec == 7 &&
                  st.st_atim.tv_sec == 1000000000 && st.st_atim.tv_nsec == 5,
              "fstat shows the futimens times");
        close(fd);
    }
    struct timespec ts2[2] = {{0, UTIME_OMIT}, {1300000000, 0}};
    check(utimensat(AT_FDCWD, "f.txt", ts2, 0) == 0, "utimensat mtime only");
    struct stat st;
    check(stat("f.txt", &st) == 0 && st.st_mtim.tv_sec == 1300000000 && st.st_atim.tv_sec == 1000000000,
          "stat shows mtime changed, atime kept");

    /* links */
    check(symlink("f.txt", "link") == 0, "symlink");
    char target[64] = {0};
    check(readlink("link", target, sizeof target - 1) == 5 && strcmp(target, "f.txt") == 0, "readlink");
    check(lstat("link", &st) == 0 && S_ISLNK(st.st_mode), "lstat sees a symlink");
    check(stat("link", &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 10, "stat follows it");
    errno = 0;
    check(readlink("f.txt", target, sizeof target) == -1 && errno == EINVAL, "readlink on a file -> EINVAL");
    check(link("f.txt", "hard") == 0, "link");
    check(stat("f.txt", &st) == 0 && st.st_nlink == 2, "nlink is 2");
    errno = 0;
    check(link("f.txt", "hard") == -1 && errno == EEXIST, "link onto an existing name -> EEXIST");
    errno = 0;
    check(symlink("f.txt", "link") == -1 && errno == EEXIST, "symlink onto an existing name -> EEXIST");

    /* scandir */
    f = fopen("d/y", "w");
    if (f) fclose(f);
    f = fopen("d/x", "w");
    if (f) fclose(f);
    struct dirent **list = NULL;
    int n = scandir("d", &list, no_dots, alphasort);
    check(n == 2 && strcmp(list[0]->d_name, "x") == 0 && strcmp(list[1]->d_name, "y") == 0,
          "scandir with alphasort lists x, y");
    for (int i = 0; i < n; i++) free(list[i]);
    free(list);

    /* randomness, scheduling, sleeping */
    unsigned char r1[32], r2[32];
    check(getentropy(r1, sizeof r1) == 0 && getentropy(r2, sizeof r2) == 0 && memcmp(r1, r2, 32) != 0,
          "getentropy twice gives different bytes");
    errno = 0;
    check(getentropy(r1, 257) == -1 && errno == EIO, "getentropy over 256 bytes -> EIO");
    check(sched_yield() == 0, "sched_yield");
    struct timespec a, b, d = {0, 15 * 1000 * 1000};
    clock_gettime(CLOCK_MONOTONIC, &a);
    check(clock_nanosleep(CLOCK_MONOTONIC, 0, &d, NULL) == 0, "clock_nanosleep 15 ms");
    clock_gettime(CLOCK_MONOTONIC, &b);
    long long el = (b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec);
    check(el >= 15000000LL, "monotonic advanced >= 15 ms");

    errno = 0;
    check(chdir("/") == -1 && errno == ENOENT, "chdir / (not preopened) -> ENOENT");
    check(chdir("/sandbox") == 0, "chdir /sandbox");
    clean();
    check(access(BASE, F_OK) == -1, "scratch directory removed");
    printf("== libc-more: %s (%d ok, %d failed)\n", failed ? "FAILED" : "all checks ok", passed, failed);
    exit(failed ? 1 : 0);
}
