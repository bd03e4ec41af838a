#include "support/test_environment.h"

#include <arpa/inet.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <random>
#include <stdexcept>

namespace miconsul::testing {

namespace {
std::string random_suffix() {
    std::random_device device;
    std::uniform_int_distribution<unsigned long long> distribution;
    char text[17];
    snprintf(text, sizeof text, "%016llx", distribution(device));
    return text;
}

std::optional<std::string> environment(const char* name) {
    const char* value = std::getenv(name);
    if (value == nullptr || value[0] == '\0') return std::nullopt;
    return std::string(value);
}
}  // namespace

ScratchDirectory::ScratchDirectory()
    : path_(std::filesystem::temp_directory_path() / ("miconsul-test-" + random_suffix())) {
    std::filesystem::create_directories(path_);
}

ScratchDirectory::~ScratchDirectory() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
}

int free_port() {
    const int socket_fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    if (::bind(socket_fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
        ::close(socket_fd);
        throw std::runtime_error("cannot bind a free port");
    }
    socklen_t length = sizeof address;
    ::getsockname(socket_fd, reinterpret_cast<sockaddr*>(&address), &length);
    ::close(socket_fd);
    return ntohs(address.sin_port);
}

std::optional<std::string> postgres_admin_url() {
    return environment("MICONSUL_TEST_POSTGRES_URL");
}

std::optional<std::string> redis_url() { return environment("MICONSUL_TEST_REDIS_URL"); }

bool servers_required() { return environment("MICONSUL_TEST_REQUIRE_SERVERS").has_value(); }

std::string create_postgres_database(const std::string& admin_url) {
    const std::string name = "miconsul_test_" + random_suffix();
    PGconn* connection = PQconnectdb(admin_url.c_str());
    if (PQstatus(connection) != CONNECTION_OK) {
        std::string reason = PQerrorMessage(connection);
        PQfinish(connection);
        throw std::runtime_error("cannot reach PostgreSQL: " + reason);
    }
    PGresult* result = PQexec(connection, ("CREATE DATABASE " + name).c_str());
    const bool created = PQresultStatus(result) == PGRES_COMMAND_OK;
    std::string reason = PQerrorMessage(connection);
    PQclear(result);
    PQfinish(connection);
    if (!created) throw std::runtime_error("cannot create database: " + reason);
    // Same server and credentials, another database: replace the path of the URL.
    const auto scheme_end = admin_url.find("://") + 3;
    const auto path_start = admin_url.find('/', scheme_end);
    const auto query_start = admin_url.find('?', scheme_end);
    std::string url = admin_url.substr(0, path_start == std::string::npos
                                              ? (query_start == std::string::npos
                                                     ? admin_url.size()
                                                     : query_start)
                                              : path_start);
    url += "/" + name;
    if (query_start != std::string::npos) url += admin_url.substr(query_start);
    return url;
}

}  // namespace miconsul::testing
