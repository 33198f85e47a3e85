#define _POSIX_C_SOURCE 200809L
#include "exporter/process.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* Seconds since the epoch at boot, from /proc/stat's btime. */
static double boot_time(void)
{
    FILE *f = fopen("/proc/stat", "re");
    if (f == NULL)
        return -1;
    char line[256];
    double bt = -1;
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "btime ", 6) == 0) {
            bt = strtod(line + 6, NULL);
            break;
        }
    }
    fclose(f);
    return bt;
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return -1;
    int n = 0;
    for (struct dirent *de; (de = readdir(d)) != NULL;)
        if (de->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory stream's own descriptor */
}

int process_metrics_write(void *arg, struct expo *e)
{
    (void)arg;
    int rc = 0;
    char stat[1024];
    FILE *f = fopen("/proc/self/stat", "re");
    size_t len = f ? fread(stat, 1, sizeof stat - 1, f) : 0;
    if (f != NULL)
        fclose(f);
    stat[len] = '\0';
    /* Fields after the command name, which may hold spaces and parentheses. */
    char *p = strrchr(stat, ')');
    unsigned long utime, stime, vsize;
    unsigned long long start;
    long rss;
    if (p == NULL || sscanf(p + 2,
                            "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d %*d "
                            "%*d %*d %llu %lu %ld",
                            &utime, &stime, &start, &vsize, &rss) != 5) {
        rc = -1;
    } else {
        double ticks = (double)sysconf(_SC_CLK_TCK);
        double page = (double)sysconf(_SC_PAGESIZE);
        expo_family(e, "process_cpu_seconds_total", EXPO_COUNTER,
                    "Total user and system CPU time spent in seconds.");
        expo_sample(e, NULL, 0, (double)(utime + stime) / ticks);
        expo_family(e, "process_resident_memory_bytes", EXPO_GAUGE,
                    "Resident memory size in bytes.");
        expo_sample(e, NULL, 0, (double)rss * page);
        expo_family(e, "process_virtual_memory_bytes", EXPO_GAUGE, "Virtual memory size in bytes.");
        expo_sample(e, NULL, 0, (double)vsize);
        double bt = boot_time();
        if (bt >= 0) {
            expo_family(e, "process_start_time_seconds", EXPO_GAUGE,
                        "Start time of the process since unix epoch in seconds.");
            expo_sample(e, NULL, 0, bt + (double)start / ticks);
        } else {
            rc = -1;
        }
    }
    int fds = count_fds();
    if (fds >= 0) {
        expo_family(e, "process_open_fds", EXPO_GAUGE, "Number of open file descriptors.");
        expo_sample(e, NULL, 0, fds);
    } else {
        rc = -1;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        expo_family(e, "process_max_fds", EXPO_GAUGE, "Maximum number of open file descriptors.");
        expo_sample(e, NULL, 0, (double)rl.rlim_cur);
    } else {
        rc = -1;
    }
    return rc;
}
