#include "support/http_receiver.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>

namespace miconsul::testing {

HttpReceiver::HttpReceiver() {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    const int yes = 1;
    setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(listener_, 16) != 0) {
        throw std::runtime_error("receiver cannot listen");
    }
    socklen_t length = sizeof address;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { serve(); });
}

HttpReceiver::~HttpReceiver() {
    stopping_ = true;
    thread_.join();
    ::close(listener_);
}

std::string HttpReceiver::url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
}

std::vector<ReceivedRequest> HttpReceiver::received() {
    std::lock_guard lock(mutex_);
    return received_;
}

bool HttpReceiver::wait_for(size_t count, int seconds) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (std::chrono::steady_clock::now() < deadline) {
        if (received().size() >= count) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
}

void HttpReceiver::serve() {
    while (!stopping_) {
        pollfd descriptor{listener_, POLLIN, 0};
        if (poll(&descriptor, 1, 100) <= 0) continue;
        const int client = ::accept(listener_, nullptr, nullptr);
        if (client < 0) continue;
        std::string data;
        char buffer[4096];
        size_t header_end = std::string::npos, content_length = 0;
        // Read the headers, then exactly Content-Length bytes of body.
        while (true) {
            pollfd readable{client, POLLIN, 0};
            if (poll(&readable, 1, 2000) <= 0) break;
            const ssize_t got = ::read(client, buffer, sizeof buffer);
            if (got <= 0) break;
            data.append(buffer, static_cast<size_t>(got));
            if (header_end == std::string::npos) {
                header_end = data.find("\r\n\r\n");
                if (header_end != std::string::npos) {
                    std::string lower = data.substr(0, header_end);
                    std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
                    const auto at = lower.find("content-length:");
                    if (at != std::string::npos) content_length = std::stoul(lower.substr(at + 15));
                }
            }
            if (header_end != std::string::npos && data.size() >= header_end + 4 + content_length) {
                break;
            }
        }
        if (header_end != std::string::npos) {
            ReceivedRequest request;
            const std::string head = data.substr(0, header_end);
            const auto first_line_end = head.find("\r\n");
            const std::string first_line = head.substr(0, first_line_end);
            request.method = first_line.substr(0, first_line.find(' '));
            request.path = first_line.substr(first_line.find(' ') + 1,
                                             first_line.rfind(' ') - first_line.find(' ') - 1);
            size_t line_start = first_line_end + 2;
            while (line_start < head.size()) {
                size_t line_end = head.find("\r\n", line_start);
                if (line_end == std::string::npos) line_end = head.size();
                const std::string line = head.substr(line_start, line_end - line_start);
                const auto colon = line.find(':');
                if (colon != std::string::npos) {
                    std::string name = line.substr(0, colon);
                    std::transform(name.begin(), name.end(), name.begin(), ::tolower);
                    std::string value = line.substr(colon + 1);
                    value.erase(0, value.find_first_not_of(' '));
                    request.headers[name] = value;
                }
                line_start = line_end + 2;
            }
            request.body = data.substr(header_end + 4, content_length);
            {
                std::lock_guard lock(mutex_);
                request.received_at = std::chrono::system_clock::now();
                received_.push_back(std::move(request));
            }
        }
        const std::string answer = "HTTP/1.1 " + std::to_string(status_.load()) +
                                   " X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        ssize_t ignored = ::write(client, answer.data(), answer.size());
        (void)ignored;
        ::close(client);
    }
}

}  // namespace miconsul::testing
