#include "http/server.h"

#include <pistache/endpoint.h>
#include <pistache/http.h>

#include <cctype>
#include <memory>
#include <sstream>
#include <thread>
#include <vector>

namespace miconsul::http {

namespace {
namespace P = Pistache;

// Pistache bounds the whole request (request line, headers and body) in one buffer and answers
// past it with a plain-text 413 of its own. We enforce the configured body limit ourselves, so
// the usual oversize request gets a problem+json 413, and give Pistache a hard cap well above
// it that only bounds memory against a flood.
constexpr size_t kPistacheCapFactor = 8;
constexpr size_t kHeaderAllowance = 64 * 1024;

// Pistache 0.0.5 writes only typed headers (raw ones are dropped on the way out); this one
// carries any name and value.
class AnyHeader final : public P::Http::Header::Header {
public:
    AnyHeader(std::string name, std::string value)
        : name_(std::move(name)), value_(std::move(value)) {}
    const char* name() const override { return name_.c_str(); }
    void write(std::ostream& stream) const override { stream << value_; }
#ifdef SAFE_HEADER_CAST
    // Used only to cast to a typed header, which this never is.
    uint64_t hash() const override {
        return 0;
    }
#endif

private:
    std::string name_;
    std::string value_;
};

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Percent-decoding; '+' means space only in query strings.
std::string percent_decode(std::string_view text, bool plus_is_space) {
    std::string decoded;
    decoded.reserve(text.size());
    for (size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '%' && i + 2 < text.size()) {
            const int high = hex_value(text[i + 1]);
            const int low = hex_value(text[i + 2]);
            if (high >= 0 && low >= 0) {
                decoded.push_back(static_cast<char>(high * 16 + low));
                i += 2;
                continue;
            }
        }
        decoded.push_back(plus_is_space && c == '+' ? ' ' : c);
    }
    return decoded;
}

Fields parse_query(std::string_view query) {
    Fields fields;
    size_t start = 0;
    while (start < query.size()) {
        size_t end = query.find('&', start);
        if (end == std::string_view::npos) end = query.size();
        const std::string_view pair = query.substr(start, end - start);
        if (!pair.empty()) {
            const size_t equals = pair.find('=');
            fields.emplace_back(percent_decode(pair.substr(0, equals), true),
                                equals == std::string_view::npos
                                    ? std::string()
                                    : percent_decode(pair.substr(equals + 1), true));
        }
        start = end + 1;
    }
    return fields;
}

std::string lower(std::string text) {
    for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return text;
}

struct Shared {
    Shared(RequestHandler handler_in, logging::Log log_in, size_t max_body, const Fields& fixed)
        : handler(std::move(handler_in)), log(std::move(log_in)), max_body_bytes(max_body) {
        for (const auto& [name, value] : fixed) {
            fixed_headers.push_back(std::make_shared<AnyHeader>(name, value));
        }
    }
    RequestHandler handler;
    logging::Log log;
    size_t max_body_bytes;
    // Built once and shared by every response (they are immutable), so the headers every
    // answer carries cost no formatting or allocation of their own per request.
    std::vector<std::shared_ptr<P::Http::Header::Header>> fixed_headers;
    std::atomic<int> in_flight{0};
};

// Pistache clones the handler for each worker thread; the clones share one Shared.
class PistacheHandler final : public P::Http::Handler {
public:
    HTTP_PROTOTYPE(PistacheHandler)

    explicit PistacheHandler(std::shared_ptr<Shared> shared) : shared_(std::move(shared)) {}

    void onRequest(const P::Http::Request& request, P::Http::ResponseWriter writer) override {
        shared_->in_flight.fetch_add(1);
        HttpResponse response;
        try {
            HttpRequest converted = convert(request);
            if (converted.body.size() > shared_->max_body_bytes) {
                response = HttpResponse::problem(
                    413,
                    "request body exceeds " + std::to_string(shared_->max_body_bytes) + " bytes");
            } else {
                response = shared_->handler(converted);
            }
        } catch (const std::exception& failure) {
            shared_->log.error("request failed", {{"reason", failure.what()}});
            response = HttpResponse::problem(500, "internal error");
        }
        write(writer, response);
        shared_->in_flight.fetch_sub(1);
    }

private:
    static HttpRequest convert(const P::Http::Request& request) {
        HttpRequest converted;
        converted.method = P::Http::methodString(request.method());
        const std::string& resource = request.resource();
        converted.path = percent_decode(resource, false);
        const std::string query = request.query().as_str();
        converted.query = parse_query(query.empty() ? query : std::string_view(query).substr(1));
        // Pistache keeps the headers it knows as typed objects that only print to a stream.
        std::ostringstream value;
        for (const auto& header : request.headers().list()) {
            value.str(std::string());
            header->write(value);
            std::string text = value.str();
            // Pistache 0.0.5's Accept::write prints nothing; its parsed media ranges remain.
            if (const auto accept = std::dynamic_pointer_cast<P::Http::Header::Accept>(header);
                accept && text.empty()) {
                for (const auto& media : accept->media()) {
                    text += (text.empty() ? "" : ", ") + media.toString();
                }
            }
            converted.headers.emplace_back(lower(header->name()), std::move(text));
        }
        for (const auto& [name, raw] : request.headers().rawList()) {
            converted.headers.emplace_back(lower(name), raw.value());
        }
        converted.body = request.body();
        converted.client_address = request.address().host();
        return converted;
    }

    void write(P::Http::ResponseWriter& writer, const HttpResponse& response) const {
        // First: Pistache keeps the first header of a name and drops later ones.
        for (const auto& header : shared_->fixed_headers) writer.headers().add(header);
        for (const auto& [name, value] : response.headers) {
            writer.headers().add(std::make_shared<AnyHeader>(name, value));
        }
        writer.send(static_cast<P::Http::Code>(response.status), response.body);
    }

    std::shared_ptr<Shared> shared_;
};
}  // namespace

struct Server::Impl {
    ServerOptions options;
    std::shared_ptr<Shared> shared;
    std::unique_ptr<P::Http::Endpoint> endpoint;
};

Server::Server(ServerOptions options, RequestHandler handler, logging::Log log)
    : impl_(std::make_unique<Impl>()) {
    impl_->options = std::move(options);
    impl_->shared =
        std::make_shared<Shared>(std::move(handler), std::move(log),
                                 impl_->options.max_request_bytes, impl_->options.fixed_headers);
}

Server::~Server() {
    if (impl_->endpoint) impl_->endpoint->shutdown();
}

void Server::start() {
    const auto& options = impl_->options;
    P::Address address(options.host, P::Port(options.port));
    impl_->endpoint = std::make_unique<P::Http::Endpoint>(address);
    impl_->endpoint->init(
        P::Http::Endpoint::options()
            .threads(options.threads)
            .flags(P::Tcp::Options::ReuseAddr)
            .maxRequestSize(options.max_request_bytes * kPistacheCapFactor + kHeaderAllowance)
            .headerTimeout(options.header_timeout)
            .bodyTimeout(options.body_timeout));
    impl_->endpoint->setHandler(std::make_shared<PistacheHandler>(impl_->shared));
    impl_->endpoint->serveThreaded();
}

uint16_t Server::port() const {
    return impl_->endpoint ? static_cast<uint16_t>(impl_->endpoint->getPort()) : 0;
}

int Server::in_flight() const {
    return impl_->shared->in_flight.load();
}

void Server::stop(std::chrono::milliseconds grace) {
    if (!impl_->endpoint) return;
    const auto deadline = std::chrono::steady_clock::now() + grace;
    while (in_flight() > 0 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    impl_->endpoint->shutdown();
    impl_->endpoint.reset();
}

}  // namespace miconsul::http
