/* Rust's std on Windows takes its random numbers from ProcessPrng in
 * bcryptprimitives.dll, which Wine 8 does not export. This one-function DLL,
 * placed beside the test binaries, gives it: the same bytes RtlGenRandom
 * (advapi32's SystemFunction036) gives. Only for running the Windows test
 * suite under Wine; real Windows has its own. */
#include <windows.h>
#define SystemFunction036 NTAPI SystemFunction036
#include <ntsecapi.h>
#undef SystemFunction036

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    return RtlGenRandom(data, (ULONG)len);
}
