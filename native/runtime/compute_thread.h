// The one thread that runs libtorch's compute for every asynchronous call (and the heavy synchronous ones).
//
// Why: libtorch's CPU kernels parallelise with OpenMP, and libgomp keeps a separate thread team for every thread
// that starts a parallel region. Work that hops between threads (libuv's pool, the main thread) therefore builds
// several teams; with more OpenMP threads than cores, libgomp stops spin-waiting between parallel regions and every
// kernel pays for waking its workers: a small ViT's training step ran about 30% slower that way than from one fixed
// thread. Funnelling the compute through this thread keeps one team, whichever thread asked for it.
//
// Two ways in, one queue each, served by this one thread:
//   - post_to_compute_thread: asynchronous work, run in the order posted; nobody waits for it (the binding's
//     PromiseWorker settles its Promise from here through a thread-safe function, binding/promise_worker.h);
//   - run_on_compute_thread: a caller that blocks until its work is done (the main thread, for the synchronous
//     calls). It goes ahead of the posted work still queued, so it waits only for the task running now.
//
// The main thread's own OpenMP and MKL thread counts are set to 1, so that what still runs there (small
// conversions) never builds a second team; everything heavy is sent here.
//
// VITORCH_COMPUTE_THREAD=0 at startup runs the synchronous calls on the calling thread instead (the previous
// behaviour, for comparison); asynchronous work always runs here.
#pragma once

#include <functional>

namespace vitorch::runtime {

// libtorch's intra-op thread count for the compute thread (setNumThreads); call from the main thread.
void set_intra_op_threads(int count);
int intra_op_threads();

// Runs `work` on the compute thread and returns when it is done, rethrowing whatever it threw. Called from the
// compute thread itself (nested), it runs `work` at once.
void run_on_compute_thread(const std::function<void()>& work);

// Queues `work` for the compute thread and returns at once. `work` must catch its own exceptions (one that escapes
// is dropped). Never waits, so it may be called from any thread, the compute thread included.
void post_to_compute_thread(std::function<void()> work);

// For the process's exit (process.on('exit'), main thread): waits for the running task, if any, and runs nothing
// after it: posted work is dropped, and synchronous calls run on the calling thread. exit() then destroys libtorch's
// statics while nothing computes, where the compute thread would have gone on using them.
void stop_compute_thread();

}  // namespace vitorch::runtime
