// The message outbox under load (docs/performance.md): N messages, half email to a real SMTP
// server (aiosmtpd, tests/support/smtp_receiver.py) and half WhatsApp to a local YCloud
// stand-in, first sent straight to the receivers by the same number of threads with the same
// clients (the baseline: what the receivers take without any outbox), then queued in a burst
// through Outbox::queue and delivered by its workers, then queued at a steady pace. Reports
// messages per second and the queue-to-accepted latency (median, p99) measured at the receivers.
//
//   messages_bench [messages=10000] [database_url=sqlite://<temp dir>] [paced_per_second=100]
#include "auth/secret_box.h"
#include "bus/bus.h"
#include "clock/clock.h"
#include "logging/log.h"
#include "messages/outbox.h"
#include "plugins/host_services.h"
#include "plugins/registry.h"
#include "records/records.h"
#include "storage/migrations.h"
#include "support/http_receiver.h"
#include "support/smtp_receiver.h"
#include "tenants/tenant_store.h"

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace {
using namespace std::chrono;
using miconsul::messages::Draft;
using nlohmann::json;

constexpr int kWorkers = 4;  // the host's default message_workers

double percentile(std::vector<double> values, double p) {
    if (values.empty()) return 0;
    std::sort(values.begin(), values.end());
    return values[static_cast<size_t>(p * static_cast<double>(values.size() - 1))];
}

double seconds_since_epoch(system_clock::time_point at) {
    return duration<double>(at.time_since_epoch()).count();
}

Draft draft(const std::string& run, long i) {
    Draft message;
    message.tenant_id = "bench";
    message.source = "bench";
    message.idempotency_key = run + "-" + std::to_string(i);
    if (i % 2 == 0) {
        message.channel = "email";
        message.to = "p" + std::to_string(i) + "@example.com";
        message.content = {
            {"subject", "Recordatorio de su cita"},
            {"text", "Hola, le recordamos su cita de mañana a las 10:00."},
            {"html", "<p>Hola, le recordamos su cita de <b>mañana</b> a las 10:00.</p>"}};
    } else {
        char phone[20];
        std::snprintf(phone, sizeof phone, "+5255%08ld", i);
        message.channel = "whatsapp";
        message.to = phone;
        message.content = {{"text", "Hola, le recordamos su cita de mañana a las 10:00."}};
    }
    return message;
}

/// Waits until the receivers hold `emails` and `whatsapps` in all.
void wait_for(const miconsul::testing::SmtpReceiver& smtp, miconsul::testing::HttpReceiver& ycloud,
              size_t emails, size_t whatsapps) {
    while (!smtp.wait_for(emails, 1) || ycloud.received().size() < whatsapps) {
        std::fprintf(stderr, "waiting: %zu of %zu emails, %zu of %zu WhatsApp messages\n",
                     smtp.messages().size(), emails, ycloud.received().size(), whatsapps);
    }
}

/// Latencies (ms) from each message's queueing to its arrival, for the arrivals not in `skip`.
std::vector<double> latencies(const miconsul::testing::SmtpReceiver& smtp,
                              miconsul::testing::HttpReceiver& ycloud,
                              const std::map<std::string, double>& queued_at) {
    std::vector<double> result;
    for (const auto& message : smtp.messages()) {
        std::string id = message["message_id"];  // "<id@miconsul>"
        id = id.substr(1, id.find('@') - 1);
        if (auto at = queued_at.find(id); at != queued_at.end()) {
            result.push_back((message["received_at"].get<double>() - at->second) * 1000);
        }
    }
    for (const auto& request : ycloud.received()) {
        const std::string id = json::parse(request.body).value("externalId", "");
        if (auto at = queued_at.find(id); at != queued_at.end()) {
            result.push_back((seconds_since_epoch(request.received_at) - at->second) * 1000);
        }
    }
    return result;
}
}  // namespace

int main(int argc, char** argv) {
    mallopt(M_TRIM_THRESHOLD, 8 << 20);  // as miconsul-host does (core/main.cpp)
    const long count = argc > 1 ? std::atol(argv[1]) : 10000;
    const auto scratch =
        std::filesystem::temp_directory_path() / ("messages-bench-" + std::to_string(::getpid()));
    std::filesystem::create_directories(scratch);
    const std::string url = argc > 2 ? argv[2] : "sqlite://" + scratch.string();
    const long paced_rate = argc > 3 ? std::atol(argv[3]) : 100;
    const auto log = miconsul::logging::Log::null();

    miconsul::testing::SmtpReceiver smtp;
    miconsul::testing::HttpReceiver ycloud;
    auto database = miconsul::storage::Database::open(url, scratch, kWorkers + 4);
    database->with_platform([&](soci::session& session) {
        miconsul::storage::apply_migrations(session, database->backend(), "core",
                                            miconsul::storage::core_platform_migrations());
    });
    miconsul::tenants::TenantStore tenants(*database);
    tenants.load();
    miconsul::tenants::Tenant tenant;
    tenant.id = "bench";
    tenant.name = "bench";
    tenants.create(tenant);
    miconsul::plugins::PluginRegistry registry;
    miconsul::plugins::HostServices services{*database, log};
    miconsul::clock::SystemClock clock;
    miconsul::bus::BusOptions bus_options;
    bus_options.workers = 0;  // message.* events are stored, as in the host; nobody subscribes
    miconsul::bus::Bus bus(*database, tenants, registry, services, clock, log, bus_options);
    miconsul::records::Records records(*database, bus, clock, log);
    miconsul::auth::SecretBox box(miconsul::auth::SecretBox::generate_key_hex());
    miconsul::messages::MessagingSettings settings(*database, &box);
    settings.replace("bench", {{"whatsapp", {{"from", "+525500000000"}, {"api_key", "key"}}}});

    miconsul::messages::OutboxOptions options;
    options.workers = kWorkers;
    options.platform_smtp.url = smtp.url();
    options.platform_from = "Clínica <avisos@miconsul.mx>";
    options.ycloud_url = ycloud.url("");

    // Baseline: the same clients, the same threads, no outbox.
    const auto baseline_start = steady_clock::now();
    {
        std::atomic<long> next{0};
        std::vector<std::thread> threads;
        for (int t = 0; t < kWorkers; ++t) {
            threads.emplace_back([&] {
                miconsul::messages::SmtpClient smtp_client;
                miconsul::messages::YCloudClient ycloud_client;
                for (long i = next++; i < count; i = next++) {
                    const Draft message = draft("baseline", i);
                    if (message.channel == "email") {
                        miconsul::messages::Email email{
                            options.platform_from,           message.to,
                            message.content["subject"],      message.content["text"],
                            message.content["html"],         {},
                            "<b" + std::to_string(i) + "@x>"};
                        smtp_client.send(options.platform_smtp, email);
                    } else {
                        miconsul::messages::WhatsAppMessage whatsapp;
                        whatsapp.from = "+525500000000";
                        whatsapp.to = message.to;
                        whatsapp.text = message.content["text"];
                        ycloud_client.send({options.ycloud_url, "key", seconds(30)}, whatsapp);
                    }
                }
            });
        }
        for (auto& thread : threads) thread.join();
    }
    const auto emails = static_cast<size_t>((count + 1) / 2);  // per run: even i are email
    const auto whatsapps = static_cast<size_t>(count / 2);
    wait_for(smtp, ycloud, emails, whatsapps);
    const double baseline_seconds = duration<double>(steady_clock::now() - baseline_start).count();

    miconsul::messages::Outbox outbox(*database, tenants, records, settings, clock, log, options);
    outbox.set_bus(&bus);
    outbox.start();
    // Burst: every message queued at once, as a birthday run does.
    std::map<std::string, double> queued_at;
    const auto burst_start = steady_clock::now();
    for (long i = 0; i < count; ++i) {
        const auto queued = outbox.queue(draft("burst", i));
        queued_at[queued.id] = seconds_since_epoch(system_clock::now());
    }
    const double queue_seconds = duration<double>(steady_clock::now() - burst_start).count();
    wait_for(smtp, ycloud, 2 * emails, 2 * whatsapps);
    const double burst_seconds = duration<double>(steady_clock::now() - burst_start).count();
    const auto burst_latencies = latencies(smtp, ycloud, queued_at);

    // Paced: a steady trickle, what reminders and confirmations look like during the day.
    const long paced = std::min(count, paced_rate * 10);
    queued_at.clear();
    const auto paced_start = steady_clock::now();
    for (long i = 0; i < paced; ++i) {
        std::this_thread::sleep_until(paced_start + microseconds(1000000 * i / paced_rate));
        const auto queued = outbox.queue(draft("paced", i));
        queued_at[queued.id] = seconds_since_epoch(system_clock::now());
    }
    wait_for(smtp, ycloud, 2 * emails + static_cast<size_t>((paced + 1) / 2),
             2 * whatsapps + static_cast<size_t>(paced / 2));
    const auto paced_latencies = latencies(smtp, ycloud, queued_at);
    outbox.stop();

    const double baseline_rate = static_cast<double>(count) / baseline_seconds;
    const double burst_rate = static_cast<double>(count) / burst_seconds;
    std::printf("backend %s, %ld messages (half email, half WhatsApp), %d workers\n",
                database->backend() == miconsul::storage::Backend::sqlite ? "sqlite" : "postgresql",
                count, kWorkers);
    std::printf("baseline (clients straight to receivers): %.0f messages/s\n", baseline_rate);
    std::printf(
        "outbox burst: queued in %.2f s (%.0f/s); all delivered in %.2f s = %.0f messages/s "
        "(%.1f %% of baseline); queue-to-accepted median %.0f ms, p99 %.0f ms\n",
        queue_seconds, static_cast<double>(count) / queue_seconds, burst_seconds, burst_rate,
        100 * burst_rate / baseline_rate, percentile(burst_latencies, 0.5),
        percentile(burst_latencies, 0.99));
    std::printf(
        "outbox paced at %ld/s: %ld messages, queue-to-accepted median %.1f ms, p99 %.1f ms\n",
        paced_rate, paced, percentile(paced_latencies, 0.5), percentile(paced_latencies, 0.99));
    std::filesystem::remove_all(scratch);
    return 0;
}
