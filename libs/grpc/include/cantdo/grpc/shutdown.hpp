#pragma once
// Graceful shutdown on SIGTERM/SIGINT (Kubernetes sends SIGTERM, then
// SIGKILL after terminationGracePeriodSeconds).

namespace cantdo::grpc {

// Blocks SIGTERM and SIGINT in the calling thread and every thread it
// creates afterwards. REQUIRES: called first thing in main(), before any
// thread (gRPC's included) exists.
void BlockShutdownSignals();

// Waits until SIGTERM or SIGINT arrives; returns the signal number.
// REQUIRES: BlockShutdownSignals() was called.
int WaitForShutdownSignal();

}  // namespace cantdo::grpc
