#include "runtime/compute_thread.h"

#include <ATen/Parallel.h>
#include <dlfcn.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

namespace vitorch::runtime {
namespace {

std::atomic<int> wanted_threads{0};

class ComputeThread {
 public:
  ComputeThread() : thread_([this] { loop(); }) { thread_.detach(); }

  bool is_current() const { return std::this_thread::get_id() == id_.load(); }

  // A caller that waits (the main thread, blocked) goes ahead of the queued asynchronous work: it waits only for
  // the task running now.
  void run(const std::function<void()>& work) {
    bool done = false;
    std::exception_ptr error;
    std::unique_lock<std::mutex> lock(mutex_);
    if (stopped_) {
      lock.unlock();
      work();
      return;
    }
    waiting_.push_back([&] {
      try {
        work();
      } catch (...) {
        error = std::current_exception();
      }
      std::lock_guard<std::mutex> done_lock(mutex_);
      done = true;
      finished_.notify_all();
    });
    wake_.notify_all();
    finished_.wait(lock, [&] { return done; });
    if (error) std::rethrow_exception(error);
  }

  void post(std::function<void()> work) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopped_) return;
    queued_.push_back(std::move(work));
    wake_.notify_all();
  }

  void stop() {
    std::unique_lock<std::mutex> lock(mutex_);
    stopped_ = true;
    finished_.wait(lock, [&] { return !running_; });
  }

 private:
  void loop() {
    id_.store(std::this_thread::get_id());
    while (true) {
      std::function<void()> task;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        // Once stopped, it waits here for good.
        wake_.wait(lock, [&] { return !stopped_ && (!waiting_.empty() || !queued_.empty()); });
        auto& from = waiting_.empty() ? queued_ : waiting_;
        task = std::move(from.front());
        from.pop_front();
        running_ = true;
      }
      // OpenMP's and MKL's thread counts are per thread: setNumThreads, called on the main thread, takes effect
      // here.
      const int wanted = wanted_threads.load();
      if (wanted > 0 && at::get_num_threads() != wanted) at::set_num_threads(wanted);
      // Tasks catch their own exceptions (run's above, post's callers'); this is the last line of defence, so that
      // nothing unwinds out of the thread.
      try {
        task();
      } catch (...) {
      }
      task = nullptr;
      std::lock_guard<std::mutex> lock(mutex_);
      running_ = false;
      finished_.notify_all();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable finished_;
  // Blocked callers' tasks (run), served first, then asynchronous ones (post), each in arrival order.
  std::deque<std::function<void()>> waiting_;
  std::deque<std::function<void()>> queued_;
  bool running_ = false;
  bool stopped_ = false;
  // Read by every caller without the lock (is_current), hence atomic.
  std::atomic<std::thread::id> id_{};
  // Last: started once everything above exists. Detached and never stopped: it lives as long as the process, so
  // that no exit-time destructor waits on it.
  std::thread thread_;
};

bool enabled() {
  static const bool value = [] {
    const char* setting = std::getenv("VITORCH_COMPUTE_THREAD");
    return setting == nullptr || std::strcmp(setting, "0") != 0;
  }();
  return value;
}

ComputeThread& compute_thread() {
  // Deliberately leaked, for the reason above.
  static ComputeThread* instance = new ComputeThread();
  return *instance;
}

// The calling thread's OpenMP and MKL counts, found in the libraries libtorch loaded (both count per thread;
// MKL's C entry point is the capitalised one, the lower-case names are its Fortran interface).
void limit_calling_thread_to_one() {
  using SetCount = void (*)(int);
  using SetLocalCount = int (*)(int);
  static const auto omp_set = reinterpret_cast<SetCount>(dlsym(RTLD_DEFAULT, "omp_set_num_threads"));
  static const auto mkl_set = reinterpret_cast<SetLocalCount>(dlsym(RTLD_DEFAULT, "MKL_Set_Num_Threads_Local"));
  if (omp_set) omp_set(1);
  if (mkl_set) mkl_set(1);
}

}  // namespace

void set_intra_op_threads(int count) {
  // Stored for the compute thread in any case: asynchronous calls run there even with VITORCH_COMPUTE_THREAD=0.
  wanted_threads.store(count);
  if (!enabled()) {
    at::set_num_threads(count);
    return;
  }
  compute_thread();  // started now, so that its first task does not pay for it
  limit_calling_thread_to_one();
}

int intra_op_threads() {
  const int wanted = wanted_threads.load();
  return wanted > 0 ? wanted : at::get_num_threads();
}

void run_on_compute_thread(const std::function<void()>& work) {
  if (!enabled()) {
    work();
    return;
  }
  auto& thread = compute_thread();
  if (thread.is_current()) {
    work();
    return;
  }
  thread.run(work);
}

void post_to_compute_thread(std::function<void()> work) { compute_thread().post(std::move(work)); }

void stop_compute_thread() { compute_thread().stop(); }

}  // namespace vitorch::runtime
