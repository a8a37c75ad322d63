/* One service of a loaded Compose project (spec-project.h) and its parts: ports, mounts,
 * networks, depends_on, healthcheck, ulimits, devices, configs and secrets. Owned by the project
 * and freed with it. Unset optional values are NULL strings, empty lists, or the SPEC_UNSET
 * sentinel for numbers.
 */
#ifndef M87_SPEC_SERVICE_H
#define M87_SPEC_SERVICE_H

#include <stdint.h>

#include "m87/list.h"
#include "m87/spec-pos.h"

#define SPEC_UNSET INT64_MIN   /* an optional number not given */
#define SPEC_MAX_REPLICAS 1000 /* scale, deploy.replicas */

enum spec_pull_policy {
    SPEC_PULL_MISSING = 0, /* missing, if_not_present: the default */
    SPEC_PULL_ALWAYS,
    SPEC_PULL_NEVER, /* never, build */
    SPEC_PULL_EVERY, /* daily, weekly, every_<duration>: pull_every_ns */
};

/* One published or exposed container port. Short-form ranges are expanded: "8080-8081:80-81"
 * gives two ports. */
struct spec_port {
    unsigned target; /* container port, 1..65535 */
    char *published; /* host port or range as text; NULL: none published, or ephemeral
                        when publish is true */
    bool publish;    /* a host binding is wanted (HostPort may be "") */
    char *host_ip;   /* NULL: all addresses */
    char *protocol;  /* "tcp" (default), "udp", "sctp" */
    char *mode;      /* "host" / "ingress" (recorded, no engine effect) */
    char *name;
    char *app_protocol;
};

enum spec_mount_type {
    SPEC_MOUNT_BIND,
    SPEC_MOUNT_VOLUME, /* named: source is the volume key of the project (or an external) */
    SPEC_MOUNT_ANON,   /* anonymous volume: no source */
    SPEC_MOUNT_TMPFS,
};

struct spec_mount {
    enum spec_mount_type type;
    char *source; /* bind: absolute host path; volume: the project's volume key */
    char *target; /* absolute container path */
    bool read_only;
    char *selinux;         /* NULL, "z" or "Z" */
    char *propagation;     /* bind: NULL or rprivate, private, rshared, shared, rslave, slave */
    bool create_host_path; /* bind: default true (legacy Binds create a missing dir) */
    bool nocopy;           /* volume */
    int64_t tmpfs_size;    /* bytes, SPEC_UNSET when not given */
    int64_t tmpfs_mode;    /* SPEC_UNSET when not given */
    bool long_syntax;      /* written in the long form (decides Binds vs Mounts with the above) */
};

struct spec_service_network {
    char *key; /* the project's network key */
    struct m87_strv aliases;
    char *ipv4_address;
    char *ipv6_address;
    int64_t priority; /* 0 when not given */
};

enum spec_depends_condition {
    SPEC_DEPENDS_STARTED = 0,
    SPEC_DEPENDS_HEALTHY,
    SPEC_DEPENDS_COMPLETED,
};

struct spec_depends {
    char *service;
    enum spec_depends_condition condition;
    bool restart;
    bool required; /* default true */
};

struct spec_healthcheck {
    bool disable;         /* disable: true, or test: ["NONE"] */
    struct m87_strv test; /* ["CMD", ...] or ["CMD-SHELL", "..."]; empty: inherit the image's */
    int64_t interval_ns;  /* SPEC_UNSET: inherit */
    int64_t timeout_ns;
    int64_t start_period_ns;
    int64_t start_interval_ns; /* needs API 1.44 (the executor checks) */
    int64_t retries;
};

struct spec_ulimit {
    char *name;
    int64_t soft;
    int64_t hard;
};

struct spec_device {
    char *host_path;
    char *container_path;
    char *permissions; /* default "rwm" */
};

/* A device request: gpus, or deploy.resources.reservations.devices. */
struct spec_device_request {
    char *driver;                 /* NULL: dockerd picks one by capability */
    int64_t count;                /* -1: all (also when neither count nor device_ids is given) */
    struct m87_strv device_ids;   /* instead of a count */
    struct m87_strv capabilities; /* for gpus with "gpu" added, as compose v2 */
    struct m87_kvlist options;
};

/* A lifecycle hook (post_start, pre_stop): a command run through the exec API in the service's
 * container, right after it started or right before it is stopped. */
struct spec_hook {
    struct m87_strv command; /* exec form; a string is split like command */
    char *user;              /* NULL: the container's user */
    bool privileged;
    char *working_dir;             /* NULL: the container's */
    struct m87_kvlist environment; /* added to the container's; a NULL value is a bare name */
};

/* blkio_config's per-device lists, in the order of HostConfig's members. */
enum spec_blkio_list {
    SPEC_BLKIO_WEIGHT_DEVICE = 0, /* BlkioWeightDevice [{Path, Weight}] */
    SPEC_BLKIO_READ_BPS,          /* BlkioDeviceReadBps [{Path, Rate}], bytes per second */
    SPEC_BLKIO_WRITE_BPS,
    SPEC_BLKIO_READ_IOPS, /* BlkioDeviceReadIOps [{Path, Rate}], operations per second */
    SPEC_BLKIO_WRITE_IOPS,
    SPEC_BLKIO_N,
};

struct spec_blkio_device {
    char *path;    /* the host device, absolute */
    int64_t value; /* a weight, or a rate */
};

struct spec_blkio_devices {
    struct spec_blkio_device *v;
    size_t n;
};

/* A service's use of a top-level config or secret. */
struct spec_file_ref {
    char *source; /* the top-level key */
    char *target; /* absolute path in the container, defaults applied */
    char *uid;    /* NULL when not given */
    char *gid;
    int64_t mode; /* SPEC_UNSET: 0444 */
};

struct spec_service {
    char *name;
    struct spec_pos pos;
    char *image;
    char *platform;
    enum spec_pull_policy pull_policy;
    int64_t pull_every_ns;
    bool has_command; /* command given (possibly empty: clears the image's CMD) */
    struct m87_strv command;
    bool has_entrypoint;
    struct m87_strv entrypoint;
    struct m87_kvlist environment; /* env_file entries then environment; a NULL value is a
                                      bare name left unresolved (sent as "NAME") */
    struct m87_strv env_files;     /* absolute paths, in order, for bundling */
    struct spec_port *ports;
    size_t n_ports;
    struct m87_strv expose; /* "3000/tcp" */
    struct spec_mount *mounts;
    size_t n_mounts;
    struct m87_kvlist tmpfs;               /* path -> mount options ("" when none) */
    struct spec_service_network *networks; /* sorted: highest priority first, then by key */
    size_t n_networks;
    char *network_mode; /* NULL, host, none, bridge, container:ID, service:NAME */
    struct spec_depends *depends;
    size_t n_depends;
    char *restart;       /* NULL, "no", "always", "unless-stopped", "on-failure" */
    int64_t restart_max; /* on-failure:N, deploy max_attempts; 0 when none */
    int64_t replicas;    /* scale / deploy.replicas, default 1 */
    int64_t mem_limit;   /* bytes or SPEC_UNSET (limits override the short keys) */
    int64_t memswap_limit;
    int64_t mem_reservation;
    int64_t nano_cpus;
    int64_t cpu_shares;
    char *cpuset;
    int64_t pids_limit;
    int64_t shm_size;
    struct spec_healthcheck healthcheck;
    bool has_healthcheck;
    struct m87_kvlist labels;      /* label_file entries then labels */
    struct m87_strv label_files;   /* absolute paths, in order, for bundling */
    struct m87_kvlist annotations; /* HostConfig.Annotations: needs API 1.43 */
    char *user;
    char *working_dir;
    char *hostname;
    char *domainname;
    bool read_only;
    struct m87_strv cap_add;
    struct m87_strv cap_drop;
    struct m87_strv security_opt;  /* a seccomp=FILE entry holds the file's JSON, as compose
                                      sends it; the file is in seccomp_files */
    struct m87_strv seccomp_files; /* absolute paths of the seccomp profiles read */
    bool privileged;
    struct spec_device *devices;
    size_t n_devices;
    struct m87_kvlist sysctls;
    struct spec_ulimit *ulimits;
    size_t n_ulimits;
    char *log_driver;
    struct m87_kvlist log_options;
    struct m87_strv extra_hosts; /* "name:ip" */
    struct m87_strv dns;
    struct m87_strv dns_search;
    struct m87_strv dns_opt;
    int init; /* -1 unset, 0, 1 */
    char *stop_signal;
    int64_t stop_grace_ns; /* SPEC_UNSET: the daemon's default */
    struct spec_file_ref *configs;
    size_t n_configs;
    struct spec_file_ref *secrets;
    size_t n_secrets;
    char *container_name;
    struct m87_strv profiles;
    bool tty;
    bool stdin_open;
    /* kernel settings: cgroups, namespaces, OOM, runtime (spec-compose-host.c) */
    struct m87_strv group_add;           /* names or numeric ids */
    struct m87_strv device_cgroup_rules; /* "c 1:3 mr" */
    char *runtime;
    int64_t oom_score_adj;  /* -1000..1000 */
    int oom_kill_disable;   /* -1 unset, 0, 1 */
    int64_t mem_swappiness; /* 0..100 */
    int64_t cpu_period;     /* microseconds, like the three below */
    int64_t cpu_quota;
    int64_t cpu_rt_period;
    int64_t cpu_rt_runtime;
    struct m87_kvlist storage_opt;
    char *mac_address;
    char *cgroup_parent;
    char *uts;                    /* "host" */
    char *userns_mode;            /* "host" */
    char *cgroup;                 /* "host", "private" */
    char *pid;                    /* host, container:NAME, service:NAME */
    char *ipc;                    /* host, private, shareable, none, container:NAME, service:NAME */
    struct m87_strv volumes_from; /* "service:NAME[:ro|:rw]" or "container:NAME[:ro|:rw]" */
    struct m87_strv links;        /* "SERVICE[:ALIAS]" */
    struct m87_strv external_links;              /* "CONTAINER[:ALIAS]" */
    struct spec_device_request *device_requests; /* reservations.devices, then gpus */
    size_t n_device_requests;
    int64_t blkio_weight; /* 10..1000, SPEC_UNSET (spec-compose-blkio.c) */
    struct spec_blkio_devices blkio[SPEC_BLKIO_N];
    char *volume_driver;
    struct spec_hook *post_start; /* in order (spec-compose-hooks.c) */
    size_t n_post_start;
    struct spec_hook *pre_stop;
    size_t n_pre_stop;
};

#endif
