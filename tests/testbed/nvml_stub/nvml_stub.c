/*
 * A stand-in for libnvidia-ml.so.1 on machines without an NVIDIA GPU.
 *
 * It lets the real pynvml (ctypes) code path of onprem.deepseek.nvml_info run in the test bed:
 * the GPUs it reports are read from a file (NVML_STUB_CONFIG, default /etc/nvml-stub.conf),
 * one GPU per line:   name|memory_mib|compute_capability|pci_bus_id|uuid[|nvswitch_links]
 * e.g.                NVIDIA A30|24576|8.0|00000000:17:00.0|GPU-5f0c...
 *                     NVIDIA H100 80GB HBM3|81559|9.0|00000000:18:00.0|GPU-...|18
 * nvswitch_links > 0 gives the GPU that many active NVLinks to NVSwitches (an HGX board), spread over four
 * switches. Optional lines "driver=570.133.20" and "cuda=12080" set the driver and CUDA driver versions
 * (default 550.54.15 and 12040).
 * Queries it does not implement are absent from the library, so pynvml raises
 * NVMLError_FunctionNotFound for them, as with an older driver. Test use only.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NVML_SUCCESS 0
#define NVML_ERROR_UNINITIALIZED 1
#define NVML_ERROR_INVALID_ARGUMENT 2
#define NVML_ERROR_NOT_SUPPORTED 3
#define NVML_ERROR_INSUFFICIENT_SIZE 7
#define MAX_GPUS 16

typedef struct {
    char name[96];
    unsigned long long memory_bytes;
    int cc_major, cc_minor;
    char bus_id[32];
    char uuid[80];
    unsigned index;
    unsigned nvswitch_links;
} stub_gpu_t;

typedef struct { unsigned long long total, free, used; } nvmlMemory_t;
typedef struct { unsigned version; unsigned long long total, reserved, free, used; } nvmlMemory_v2_t;
typedef struct {
    char busIdLegacy[16];
    unsigned domain, bus, device, pciDeviceId, pciSubSystemId;
    char busId[32];
} nvmlPciInfo_t;

static stub_gpu_t gpus[MAX_GPUS];
static unsigned gpu_count;
static int initialised;
static char driver_version[80] = "550.54.15";
static int cuda_driver_version = 12040;

static int load_config(void) {
    const char *path = getenv("NVML_STUB_CONFIG");
    char line[512];
    FILE *f = fopen(path ? path : "/etc/nvml-stub.conf", "r");
    gpu_count = 0;
    if (!f) return 0;
    while (gpu_count < MAX_GPUS && fgets(line, sizeof line, f)) {
        stub_gpu_t *g = &gpus[gpu_count];
        char *fields[6] = {0};
        char *save = NULL, *tok;
        int n = 0;
        line[strcspn(line, "\r\n")] = 0;
        if (line[0] == 0 || line[0] == '#') continue;
        if (strncmp(line, "driver=", 7) == 0) { snprintf(driver_version, sizeof driver_version, "%.79s", line + 7); continue; }
        if (strncmp(line, "cuda=", 5) == 0) { cuda_driver_version = atoi(line + 5); continue; }
        for (tok = strtok_r(line, "|", &save); tok && n < 6; tok = strtok_r(NULL, "|", &save)) fields[n++] = tok;
        if (n < 5) continue;
        memset(g, 0, sizeof *g);
        snprintf(g->name, sizeof g->name, "%s", fields[0]);
        g->memory_bytes = strtoull(fields[1], NULL, 10) * 1024ULL * 1024ULL;
        if (sscanf(fields[2], "%d.%d", &g->cc_major, &g->cc_minor) != 2) continue;
        snprintf(g->bus_id, sizeof g->bus_id, "%s", fields[3]);
        snprintf(g->uuid, sizeof g->uuid, "%s", fields[4]);
        g->nvswitch_links = fields[5] ? (unsigned)atoi(fields[5]) : 0;
        g->index = gpu_count++;
    }
    fclose(f);
    return 0;
}

static int copy_str(char *dst, unsigned length, const char *src) {
    if (!dst) return NVML_ERROR_INVALID_ARGUMENT;
    if (strlen(src) + 1 > length) return NVML_ERROR_INSUFFICIENT_SIZE;
    strcpy(dst, src);
    return NVML_SUCCESS;
}

#define GPU(h) ((stub_gpu_t *)(h))
#define CHECK_INIT() do { if (!initialised) return NVML_ERROR_UNINITIALIZED; } while (0)

int nvmlInitWithFlags(unsigned flags) { (void)flags; load_config(); initialised = 1; return NVML_SUCCESS; }
int nvmlInit_v2(void) { return nvmlInitWithFlags(0); }
int nvmlInit(void) { return nvmlInitWithFlags(0); }
int nvmlShutdown(void) { CHECK_INIT(); initialised = 0; return NVML_SUCCESS; }

const char *nvmlErrorString(int result) {
    switch (result) {
    case NVML_SUCCESS: return "Success";
    case NVML_ERROR_UNINITIALIZED: return "Uninitialized";
    case NVML_ERROR_INVALID_ARGUMENT: return "Invalid Argument";
    case NVML_ERROR_NOT_SUPPORTED: return "Not Supported";
    case NVML_ERROR_INSUFFICIENT_SIZE: return "Insufficient Size";
    default: return "Unknown Error";
    }
}

int nvmlSystemGetDriverVersion(char *version, unsigned length) { CHECK_INIT(); return copy_str(version, length, driver_version); }
int nvmlSystemGetNVMLVersion(char *version, unsigned length) {
    char v[96];
    CHECK_INIT();
    snprintf(v, sizeof v, "%d.%s", cuda_driver_version / 1000, driver_version);
    return copy_str(version, length, v);
}
int nvmlSystemGetCudaDriverVersion(int *v) { CHECK_INIT(); if (!v) return NVML_ERROR_INVALID_ARGUMENT; *v = cuda_driver_version; return NVML_SUCCESS; }
int nvmlSystemGetCudaDriverVersion_v2(int *v) { return nvmlSystemGetCudaDriverVersion(v); }

int nvmlDeviceGetCount_v2(unsigned *count) { CHECK_INIT(); if (!count) return NVML_ERROR_INVALID_ARGUMENT; *count = gpu_count; return NVML_SUCCESS; }
int nvmlDeviceGetCount(unsigned *count) { return nvmlDeviceGetCount_v2(count); }

int nvmlDeviceGetHandleByIndex_v2(unsigned index, void **handle) {
    CHECK_INIT();
    if (!handle || index >= gpu_count) return NVML_ERROR_INVALID_ARGUMENT;
    *handle = &gpus[index];
    return NVML_SUCCESS;
}
int nvmlDeviceGetHandleByIndex(unsigned index, void **handle) { return nvmlDeviceGetHandleByIndex_v2(index, handle); }

int nvmlDeviceGetIndex(void *h, unsigned *index) { CHECK_INIT(); if (!h || !index) return NVML_ERROR_INVALID_ARGUMENT; *index = GPU(h)->index; return NVML_SUCCESS; }
int nvmlDeviceGetName(void *h, char *name, unsigned length) { CHECK_INIT(); if (!h) return NVML_ERROR_INVALID_ARGUMENT; return copy_str(name, length, GPU(h)->name); }
int nvmlDeviceGetUUID(void *h, char *uuid, unsigned length) { CHECK_INIT(); if (!h) return NVML_ERROR_INVALID_ARGUMENT; return copy_str(uuid, length, GPU(h)->uuid); }

int nvmlDeviceGetMemoryInfo(void *h, nvmlMemory_t *m) {
    CHECK_INIT();
    if (!h || !m) return NVML_ERROR_INVALID_ARGUMENT;
    m->total = GPU(h)->memory_bytes;
    m->used = 0;
    m->free = m->total;
    return NVML_SUCCESS;
}
int nvmlDeviceGetMemoryInfo_v2(void *h, nvmlMemory_v2_t *m) {
    CHECK_INIT();
    if (!h || !m) return NVML_ERROR_INVALID_ARGUMENT;
    m->total = GPU(h)->memory_bytes;
    m->reserved = 0;
    m->used = 0;
    m->free = m->total;
    return NVML_SUCCESS;
}

int nvmlDeviceGetPciInfo_v3(void *h, nvmlPciInfo_t *p) {
    unsigned domain = 0, bus = 0, dev = 0, fn = 0;
    CHECK_INIT();
    if (!h || !p) return NVML_ERROR_INVALID_ARGUMENT;
    memset(p, 0, sizeof *p);
    sscanf(GPU(h)->bus_id, "%x:%x:%x.%x", &domain, &bus, &dev, &fn);
    p->domain = domain;
    p->bus = bus;
    p->device = dev;
    p->pciDeviceId = 0x20b710de;
    snprintf(p->busId, sizeof p->busId, "%s", GPU(h)->bus_id);
    snprintf(p->busIdLegacy, sizeof p->busIdLegacy, "%.15s", GPU(h)->bus_id + 4);
    return NVML_SUCCESS;
}
int nvmlDeviceGetPciInfo_v2(void *h, nvmlPciInfo_t *p) { return nvmlDeviceGetPciInfo_v3(h, p); }

int nvmlDeviceGetCudaComputeCapability(void *h, int *major, int *minor) {
    CHECK_INIT();
    if (!h || !major || !minor) return NVML_ERROR_INVALID_ARGUMENT;
    *major = GPU(h)->cc_major;
    *minor = GPU(h)->cc_minor;
    return NVML_SUCCESS;
}

/* A PCIe card without NVLink: link queries are "not supported", as NVML answers them. An HGX GPU
 * (nvswitch_links > 0): that many active links, each to one of four NVSwitches (remote type switch, 2). */
int nvmlDeviceGetNvLinkState(void *h, unsigned link, int *active) {
    CHECK_INIT();
    if (!h || !active) return NVML_ERROR_INVALID_ARGUMENT;
    if (link >= GPU(h)->nvswitch_links) return NVML_ERROR_NOT_SUPPORTED;
    *active = 1;
    return NVML_SUCCESS;
}
int nvmlDeviceGetNvLinkRemoteDeviceType(void *h, unsigned link, int *type) {
    CHECK_INIT();
    if (!h || !type || link >= GPU(h)->nvswitch_links) return NVML_ERROR_INVALID_ARGUMENT;
    *type = 2;
    return NVML_SUCCESS;
}
int nvmlDeviceGetNvLinkRemotePciInfo_v2(void *h, unsigned link, nvmlPciInfo_t *p) {
    CHECK_INIT();
    if (!h || !p || link >= GPU(h)->nvswitch_links) return NVML_ERROR_INVALID_ARGUMENT;
    memset(p, 0, sizeof *p);
    p->bus = 0xc0 + link % 4;
    p->pciDeviceId = 0x22a310de;
    snprintf(p->busId, sizeof p->busId, "00000000:%02X:00.0", p->bus);
    snprintf(p->busIdLegacy, sizeof p->busIdLegacy, "0000:%02X:00.0", p->bus);
    return NVML_SUCCESS;
}
