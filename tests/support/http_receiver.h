// A tiny HTTP server for tests: stands in for an n8n Webhook node. Records every request and
// answers each with the status it is told to.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace miconsul::testing {

struct ReceivedRequest {
    std::string method, path, body;
    std::map<std::string, std::string> headers;         // names lower-cased
    std::chrono::system_clock::time_point received_at;  // when its body was complete
};

class HttpReceiver {
public:
    HttpReceiver();  // listens on 127.0.0.1, a free port
    ~HttpReceiver();
    HttpReceiver(const HttpReceiver&) = delete;
    HttpReceiver& operator=(const HttpReceiver&) = delete;

    std::string url(const std::string& path = "/hook") const;
    void answer_with(int status) { status_ = status; }
    std::vector<ReceivedRequest> received();
    /// Waits up to `seconds` for at least `count` requests.
    bool wait_for(size_t count, int seconds = 5);

private:
    void serve();

    int listener_ = -1;
    int port_ = 0;
    std::atomic<int> status_{200};
    std::atomic<bool> stopping_{false};
    std::mutex mutex_;
    std::vector<ReceivedRequest> received_;
    std::thread thread_;
};

}  // namespace miconsul::testing
