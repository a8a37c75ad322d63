/* Compiler attributes and the smallest macros, for every other m87 header.
 *
 * Contract: no declarations, no includes; only macros that expand to attributes (empty on a
 * compiler that lacks them) or to plain expressions.
 */
#ifndef M87_COMPILER_H
#define M87_COMPILER_H

#if defined(__GNUC__)
#define M87_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define M87_NORETURN __attribute__((noreturn))
#else
#define M87_PRINTF(a, b)
#define M87_NORETURN
#endif

#define M87_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
