/* The version of m87, as the three programs print it and send it to their peers (user agents,
 * the agent's reports). One string for all of them. */
#ifndef M87_VERSION_H
#define M87_VERSION_H

#define M87_VERSION "0.1.0"

#endif
