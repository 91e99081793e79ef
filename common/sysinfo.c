#include "common.h"

#include <stdio.h>
#include <string.h>

void qp_cpu_model(char *buf, size_t size)
{
    snprintf(buf, size, "unknown CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) != 0)
            continue;
        const char *v = strchr(line, ':');
        if (v) {
            v++;
            while (*v == ' ' || *v == '\t')
                v++;
            snprintf(buf, size, "%s", v);
            buf[strcspn(buf, "\n")] = '\0';
        }
        break;
    }
    fclose(f);
}
