// The one thread that runs libtorch's compute for every asynchronous call (and the heavy synchronous ones).
//
// Why: libtorch's CPU kernels parallelise with OpenMP, and libgomp keeps a separate thread team for every thread
// that starts a parallel region. Work that hops between libuv's pool threads (and the main thread) therefore
// builds several teams; with more OpenMP threads than cores, libgomp stops spin-waiting between parallel regions
// and every kernel pays for waking its workers: a small ViT's training step ran about 30% slower that way than
// from one fixed thread. Funnelling the compute through this thread keeps one team, whichever libuv thread or the
// main thread asked for it. Calls are served in the order they arrive; the asking thread waits for its own.
//
// The main thread's own OpenMP and MKL thread counts are set to 1, so that what still runs there (small
// conversions) never builds a second team; everything heavy is sent here.
//
// VITORCH_COMPUTE_THREAD=0 at startup runs the work on the asking thread instead (the previous behaviour).
#pragma once

#include <functional>

namespace vitorch::runtime {

// libtorch's intra-op thread count for the compute thread (setNumThreads); call from the main thread.
void set_intra_op_threads(int count);
int intra_op_threads();

// Runs `work` on the compute thread and returns when it is done, rethrowing whatever it threw. Called from the
// compute thread itself (nested), it runs `work` at once.
void run_on_compute_thread(const std::function<void()>& work);

}  // namespace vitorch::runtime
