/* m87-server private: the caps of what the server takes from the outside, and its file names.
 * Nothing outside src/server includes this. */
#ifndef M87_SERVER_LIMITS_H
#define M87_SERVER_LIMITS_H

#include <stdint.h>

#include "m87/spec-runspec.h"


#define SRV_MAX_JSON_BODY (64u * 1024)
#define SRV_MAX_SPEC_BODY SPEC_RUNSPEC_MAX_FILE
#define SRV_MAX_SYNC_BODY (4u * 1024 * 1024)
#define SRV_MAX_BUNDLE ((uint64_t)256 * 1024 * 1024)
/* bytes of a bundle per row of bundle_chunks: what a GET holds in memory, and one database read
 * per this much served (docs/design.md, Bundles) */
#define SRV_BUNDLE_CHUNK (256u * 1024)
#define SRV_MAX_REPORTS 500u
#define SRV_MAX_REPORT (64u * 1024)
#define SRV_MAX_WAIT 300
#define SRV_DEFAULT_WAIT 60
#define SRV_ONLINE_GRACE 30   /* seconds past the longest wait that still count as online */
#define SRV_JSON_MAX_DEPTH 32 /* nesting of request JSON: yajl frees trees recursively */
#define SRV_MAX_PARAMS 3      /* path parameters of a route */
#define SRV_MAX_SEGMENT 256   /* bytes of one path segment */
#define SRV_REPORTS_DEFAULT_LIMIT 100
#define SRV_REPORTS_MAX_LIMIT 1000
#define SRV_DEVICES_MAX_LIMIT 500 /* devices of one page of GET /v1/devices */
#define SRV_MAX_AGENT_VERSION 64
#define SRV_MAX_WINDOWS 32    /* maintenance windows per device */
#define SRV_MAX_PREFETCH 64   /* images a device is asked to prefetch */
#define SRV_MAX_IMAGE_REF 512 /* bytes of an image reference to prefetch */
/* fleets of a server: every change of a device's labels matches it against each of them */
#define SRV_MAX_FLEETS 1000
#define SRV_HEADER_TIMEOUT 15 /* seconds a connection may idle before its request's headers */
#define SRV_REQUEST_TIMEOUT 60    /* seconds of silence allowed once the headers are in */
#define SRV_MAX_HELD_PER_DEVICE 4 /* held syncs of one device; a newer one answers the oldest */
#define SRV_MAX_CONNECTIONS 60000
#define SRV_CONNECTIONS_PER_ADDRESS 256 /* default of --max-connections-per-address */
#define SRV_FD_RESERVE 64 /* descriptors kept from connections: the database, bundles, epoll */
#define SRV_DB_FILE "m87.db"
#define SRV_BUNDLE_DIR "bundles"
#define SRV_LOCK_FILE "m87.lock" /* held by serve and migrate (datalock.c) */
/* Retry-After of a 503 while the database (PostgreSQL) is away: the store connects again on the
 * first request after it returns */
#define SRV_DB_RETRY_AFTER "5"
/* PostgreSQL connections of a server's store (serve --db-pool): the default, and at most */
#define SRV_DB_POOL 4
#define SRV_DB_POOL_MAX 64

#endif
