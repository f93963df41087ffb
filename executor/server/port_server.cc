#include "executor/server/port_server.h"

#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/write.hpp>

#include "executor/sandbox/sandbox.h"
#include "executor/server/frame_reader.h"
#include "executor/server/frame_writer.h"
#include "executor/server/inline_run.h"
#include "executor/server/request_handler.h"
#include "executor/server/spin_governor.h"

namespace pelemay {
namespace {

namespace asio = boost::asio;

// The CPUs this process may run on.
unsigned AvailableCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof(set), &set) == 0) return static_cast<unsigned>(CPU_COUNT(&set));
  return std::thread::hardware_concurrency();
}

struct Job {
  v1::Request request;
  std::shared_ptr<std::atomic<bool>> cancelled = std::make_shared<std::atomic<bool>>(false);
};

class PortServer {
 public:
  // options.spin_us must be resolved (EffectiveSpinUs).
  PortServer(const ExecutorOptions& options, int in_fd, int out_fd)
      : spin_(options.spin_us),
        governor_(options.spin_governor && options.spin_us > 0 ? SpinGovernor::ForThisThread()
                                                               : SpinGovernor(SpinGovernor::Hooks{})),
        handler_(options),
        in_(io_, ::dup(in_fd)),
        writer_(out_fd),
        signals_(io_, SIGTERM, SIGINT),
        reader_(static_cast<uint64_t>(options.max_frame_bytes)) {}

  unsigned threads() const { return handler_.Info().threads(); }

  int Serve() {
    signals_.async_wait([this](const boost::system::error_code& ec, int) {
      if (!ec) BeginShutdown(kExitOk);
    });
    worker_ = std::thread([this] { WorkerLoop(); });
    ReadMore();
    RunEventLoop();
    StopWorker();
    return exit_code_;
  }

 private:
  // ---- the event loop (I/O thread) ----
  // io_.run(), except that with --spin-us the thread polls for new events
  // for spin_ after each one it handled, as long as the compute thread has
  // nothing to do (while it computes, a request that arrives only waits in
  // the queue, and the spinning would take a CPU from the kernels) and the
  // governor allows it (not while the thread finds its CPU shared).
  void RunEventLoop() {
    if (spin_.count() == 0) {
      io_.run();
      return;
    }
    while (!io_.stopped()) {
      if (io_.run_one() == 0) break;  // blocks until an event
      auto now = std::chrono::steady_clock::now();
      // The event is handled (its reply written): a moment to look at the
      // run delay that the governor judges polling by.
      if (!governor_.Observe(now)) continue;
      auto deadline = now + spin_;
      auto next_look = now + kGovernorPeriod;
      while (!io_.stopped() && compute_jobs_.load(std::memory_order_relaxed) == 0) {
        // Non-blocking: epoll_wait with a zero timeout, then any handler.
        const size_t handled = io_.poll();
        now = std::chrono::steady_clock::now();
        if (handled > 0) deadline = now + spin_;
        if (now >= deadline) {
          governor_.Observe(now);
          break;
        }
        // A CPU found shared is given up within a period, not a whole spin.
        if (now >= next_look) {
          next_look = now + kGovernorPeriod;
          if (!governor_.Observe(now)) break;
        }
      }
    }
  }

  // ---- reading (I/O thread) ----
  void ReadMore() {
    in_.async_read_some(asio::buffer(read_buf_), [this](const boost::system::error_code& ec, size_t n) {
      if (stopping_) return;
      if (ec) {
        if (ec == asio::error::eof) {
          if (reader_.mid_frame()) {
            std::fprintf(stderr, "pelemay_executor: input ended inside a frame; exiting\n");
            BeginShutdown(kExitTruncated);
          } else {
            BeginShutdown(kExitOk);
          }
        } else {
          std::fprintf(stderr, "pelemay_executor: read failed: %s\n", ec.message().c_str());
          BeginShutdown(kExitIoError);
        }
        return;
      }
      events_.clear();
      reader_.Feed(std::span<const std::byte>(reinterpret_cast<const std::byte*>(read_buf_.data()), n), events_);
      for (auto& ev : events_) OnFrame(ev);
      if (!stopping_) ReadMore();
    });
  }

  void OnFrame(FrameEvent& ev) {
    if (stopping_) return;
    handler_.CountRequest();
    if (ev.kind == FrameEvent::Kind::kOversize) {
      handler_.CountBytes(ev.length + 4, 0);
      handler_.CountError();
      Send(RequestHandler::ErrorResponse(
          0, Status(ErrorCode::kResourceExhausted,
                    "frame of " + std::to_string(ev.length) + " bytes exceeds the limit of " +
                        std::to_string(reader_.max_frame_bytes()) + " (--max-frame); it was skipped")));
      return;
    }
    handler_.CountBytes(ev.payload.size() + 4, 0);
    auto job = std::make_unique<Job>();
    if (!job->request.ParseFromString(ev.payload)) {
      handler_.CountError();
      Send(RequestHandler::ErrorResponse(
          0, InvalidArgument() << "malformed frame of " << ev.payload.size() << " bytes: not a pelemay.v1.Request"));
      return;
    }
    ev.payload = std::string();  // the parsed request holds what it needs
    const v1::Request& req = job->request;
    switch (req.kind_case()) {
      case v1::Request::kRun:
      case v1::Request::kCompile: {
        std::unique_lock<std::mutex> lock(mu_);
        if (running_ == nullptr && queue_.empty() && CheapEnoughForIoThread(req, handler_.cache()) &&
            handler_.faults().Quiet()) {
          // Handing a tiny run to the compute thread costs a thread wake-up
          // that is longer than the run itself: run it here. Nothing can be
          // overtaken (the compute thread is idle and nothing is queued),
          // and it is too small to delay a ping or a cancel noticeably.
          running_ = job.get();
          lock.unlock();
          RunJob(*job);
          return;
        }
        queue_.push_back(std::move(job));
        compute_jobs_.fetch_add(1, std::memory_order_relaxed);
        cv_.notify_one();
        return;
      }
      case v1::Request::kCancel: return Cancel(req);
      case v1::Request::kFault: return Fault(req);
      case v1::Request::kShutdown: {
        v1::Response resp;
        resp.set_id(req.id());
        resp.mutable_shutdown();
        Send(resp);
        BeginShutdown(kExitOk);
        return;
      }
      case v1::Request::KIND_NOT_SET:
        handler_.CountError();
        Send(RequestHandler::ErrorResponse(req.id(), InvalidArgument() << "request has no kind"));
        return;
      default: {
        v1::Response resp = handler_.HandleQuick(req);
        // The governor is the loop's: the handler cannot count for it.
        if (resp.has_stats()) {
          resp.mutable_stats()->set_spin_moves(governor_.moves());
          resp.mutable_stats()->set_spin_backoffs(governor_.backoffs());
        }
        Send(resp);
        return;
      }
    }
  }

  void Fault(const v1::Request& req) {
    auto reply = handler_.faults().Handle(req.fault());  // fatal kinds never return
    if (!reply.ok()) {
      handler_.CountError();
      Send(RequestHandler::ErrorResponse(req.id(), reply.status()));
      return;
    }
    v1::Response ack;
    ack.set_id(req.id());
    ack.mutable_fault();
    SendWithFault(ack, *reply);
  }

  // Sends a response as an injected fault wants it: intact, replaced by a
  // frame that is not a Response, or cut short with the process exiting.
  void SendWithFault(const v1::Response& resp, FaultInjector::Reply how) {
    switch (how) {
      case FaultInjector::Reply::kNormal: Send(resp); return;
      case FaultInjector::Reply::kGarbage: WriteBytes(FaultInjector::GarbageFrame()); return;
      case FaultInjector::Reply::kTruncatedThenExit: WriteBytes(FaultInjector::TruncatedFrame()); ::_exit(70);
    }
  }

  void Cancel(const v1::Request& req) {
    const uint64_t target = req.cancel().target_id();
    bool found = false;
    std::unique_ptr<Job> removed;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (running_ != nullptr && running_->request.id() == target) {
        running_->cancelled->store(true);
        found = true;
      } else {
        for (auto it = queue_.begin(); it != queue_.end(); ++it) {
          if ((*it)->request.id() == target) {
            removed = std::move(*it);
            queue_.erase(it);
            compute_jobs_.fetch_sub(1, std::memory_order_relaxed);
            found = true;
            break;
          }
        }
      }
    }
    if (removed) {
      handler_.CountError();
      Send(RequestHandler::ErrorResponse(target, Status(ErrorCode::kCancelled, "cancelled before it ran")));
    }
    v1::Response resp;
    resp.set_id(req.id());
    resp.mutable_cancel()->set_found(found);
    Send(resp);
  }

  // ---- writing (any thread: see frame_writer.h for why) ----
  void Send(const v1::Response& resp) {
    const std::string frame = EncodeFrame(resp.SerializeAsString());
    handler_.CountBytes(0, frame.size());
    WriteBytes(frame);
  }

  void WriteBytes(std::string_view bytes) {
    if (writer_.Write(bytes) || write_failure_seen_.exchange(true)) return;
    // The reader is gone: stop reading, let the worker wind down, exit.
    asio::post(io_, [this] {
      BeginShutdown(kExitIoError);
      io_.stop();
    });
  }

  // Runs a job marked running_ (compute thread, or the I/O thread for a
  // cheap one) and writes its reply before the next run can start
  // (frame_writer.h).
  void RunJob(Job& job) {
    FaultInjector::Reply how = FaultInjector::Reply::kNormal;
    v1::Response resp = handler_.HandleWork(job.request, job.cancelled.get(), &how);
    {
      std::lock_guard<std::mutex> lock(mu_);
      running_ = nullptr;
    }
    SendWithFault(resp, how);
  }

  // ---- compute thread ----
  void WorkerLoop() {
    for (;;) {
      std::unique_ptr<Job> job;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stop_worker_ || !queue_.empty(); });
        if (stop_worker_) break;
        job = std::move(queue_.front());
        queue_.pop_front();
        running_ = job.get();
      }
      RunJob(*job);
      // The last queued job is done: wake the I/O thread, so that it spins
      // for the caller's next request instead of sleeping through it.
      if (compute_jobs_.fetch_sub(1, std::memory_order_relaxed) == 1 && spin_.count() > 0) asio::post(io_, [] {});
    }
    asio::post(io_, [this] { io_.stop(); });
  }

  void BeginShutdown(int code) {
    if (stopping_) return;
    stopping_ = true;
    exit_code_ = code;
    // Cancellation is checked between instructions; a kernel stuck for
    // longer than this must not keep a dead owner's executor alive.
    std::thread([code] {
      std::this_thread::sleep_for(std::chrono::seconds(1));
      std::fprintf(stderr, "pelemay_executor: the running request did not stop within 1 s; exiting\n");
      std::fflush(stderr);
      ::_exit(code);
    }).detach();
    signals_.cancel();
    boost::system::error_code ignored;
    in_.cancel(ignored);
    std::lock_guard<std::mutex> lock(mu_);
    if (running_ != nullptr) running_->cancelled->store(true);
    compute_jobs_.fetch_sub(static_cast<int64_t>(queue_.size()), std::memory_order_relaxed);
    queue_.clear();
    stop_worker_ = true;
    cv_.notify_one();
  }

  void StopWorker() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_worker_ = true;
      if (running_ != nullptr) running_->cancelled->store(true);
    }
    cv_.notify_one();
    if (worker_.joinable()) worker_.join();
  }

  // How often a polling loop asks the governor.
  static constexpr std::chrono::milliseconds kGovernorPeriod{1};
  const std::chrono::microseconds spin_;
  // Made on this thread, which runs the event loop, before ServePort applies
  // the sandbox; without hooks (--spin-always, or no polling at all: nothing
  // to open) it never intervenes.
  SpinGovernor governor_;
  asio::io_context io_;
  RequestHandler handler_;
  asio::posix::stream_descriptor in_;
  FrameWriter writer_;
  asio::signal_set signals_;
  FrameReader reader_;
  std::array<char, 1 << 16> read_buf_{};
  std::vector<FrameEvent> events_;

  std::thread worker_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Job>> queue_;
  Job* running_ = nullptr;
  bool stop_worker_ = false;
  // Jobs queued for or running on the compute thread (the I/O thread does
  // not spin while there are any).
  std::atomic<int64_t> compute_jobs_{0};

  bool stopping_ = false;  // I/O thread only
  std::atomic<bool> write_failure_seen_{false};
  int exit_code_ = kExitOk;
};

}  // namespace

namespace {

// epoll cannot watch regular files, so when stdin or stdout is one (a saved
// frame stream replayed with `<`, or `>` into a file) a thread relays it
// through a pipe and the loop sees a pipe as usual.
class FileRelay {
 public:
  // to_loop: file -> pipe read end returned by fd(); else pipe -> file.
  FileRelay(int file_fd, bool to_loop) {
    if (::pipe(pipe_) != 0) return;
    const int from = to_loop ? file_fd : pipe_[0];
    const int to = to_loop ? pipe_[1] : file_fd;
    loop_fd_ = to_loop ? pipe_[0] : pipe_[1];
    relay_end_ = to_loop ? pipe_[1] : pipe_[0];
    thread_ = std::thread([from, to, end = relay_end_] {
      std::array<char, 1 << 16> buf;
      for (;;) {
        const ssize_t n = ::read(from, buf.data(), buf.size());
        if (n <= 0) break;
        for (ssize_t off = 0; off < n;) {
          const ssize_t w = ::write(to, buf.data() + off, static_cast<size_t>(n - off));
          if (w <= 0) return;
          off += w;
        }
      }
      ::close(end);
    });
  }
  ~FileRelay() {
    if (thread_.joinable()) thread_.join();
  }
  int fd() const { return loop_fd_; }
  // The loop closes its end first (output relay: lets the thread see EOF).
  void CloseLoopEnd() {
    if (loop_fd_ >= 0) ::close(loop_fd_);
    loop_fd_ = -1;
  }
  FileRelay(const FileRelay&) = delete;
  FileRelay& operator=(const FileRelay&) = delete;

 private:
  int pipe_[2] = {-1, -1};
  int loop_fd_ = -1, relay_end_ = -1;
  std::thread thread_;
};

}  // namespace

sandbox::Limits SandboxLimits(const ExecutorOptions& options, unsigned pool_threads) {
  sandbox::Limits l;
  l.memory_budget_bytes = options.memory_budget_bytes;
  l.max_frame_bytes = options.max_frame_bytes;
  // The pool's threads, the I/O and compute threads, the shutdown grace
  // thread and two file relays.
  l.threads = pool_threads + 5;
  return l;
}

namespace {

bool IsRegularFile(int fd) {
  struct stat st {};
  return ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
}

}  // namespace

int ServePort(const ExecutorOptions& options, int in_fd, int out_fd) {
  std::unique_ptr<FileRelay> in_relay, out_relay;
  if (IsRegularFile(in_fd)) {
    in_relay = std::make_unique<FileRelay>(in_fd, true);
    in_fd = in_relay->fd();
  }
  if (IsRegularFile(out_fd)) {
    out_relay = std::make_unique<FileRelay>(out_fd, false);
    out_fd = out_relay->fd();
  }
  int code;
  {
    ExecutorOptions resolved = options;
    resolved.spin_us = EffectiveSpinUs(options, AvailableCpus());
    PortServer server(resolved, in_fd, out_fd);
    // Start-up is over: the relays run, the handler's thread pool is up and
    // /proc/self/status is open (RequestHandler), the epoll instance and the
    // signal pipe exist (Asio). Anything that must open or map a resource —
    // the shared-memory arena included — happens before this line.
    if (options.sandbox) {
      if (Status st = sandbox::Apply(SandboxLimits(options, server.threads())); !st.ok()) {
        std::fprintf(stderr, "pelemay_executor: %s\n", st.message().c_str());
        std::fflush(stderr);
        ::_exit(kExitSandbox);  // not a return: the relays may be blocked on I/O
      }
    }
    code = server.Serve();
  }
  if (out_relay) out_relay->CloseLoopEnd();
  if (in_relay) {
    // Unblock a relay still reading a long file after an early shutdown.
    in_relay->CloseLoopEnd();
    in_relay.reset();
  }
  return code;
}

}  // namespace pelemay
