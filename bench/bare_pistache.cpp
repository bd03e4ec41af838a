// The baseline for docs/performance.md: a bare Pistache Http::Endpoint that answers every
// request with the same bytes the hello plugin's greet route returns, and nothing else.
#include <pistache/endpoint.h>
#include <pistache/http.h>

#include <csignal>
#include <string>

namespace {
class BareHandler final : public Pistache::Http::Handler {
public:
    HTTP_PROTOTYPE(BareHandler)
    void onRequest(const Pistache::Http::Request&, Pistache::Http::ResponseWriter writer) override {
        writer.headers().add<Pistache::Http::Header::ContentType>(MIME(Application, Json));
        writer.send(Pistache::Http::Code::Ok, R"({"message":"Hola, Ana"})");
    }
};
}  // namespace

int main(int argc, char** argv) {
    const int port = argc > 1 ? std::stoi(argv[1]) : 18081;
    const int threads = argc > 2 ? std::stoi(argv[2]) : 2;
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, nullptr);
    Pistache::Http::Endpoint endpoint(
        Pistache::Address(Pistache::Ipv4::loopback(), Pistache::Port(static_cast<uint16_t>(port))));
    endpoint.init(Pistache::Http::Endpoint::options().threads(threads).flags(
        Pistache::Tcp::Options::ReuseAddr));
    endpoint.setHandler(Pistache::Http::make_handler<BareHandler>());
    endpoint.serveThreaded();
    int received = 0;
    sigwait(&stop, &received);
    endpoint.shutdown();
    return 0;
}
