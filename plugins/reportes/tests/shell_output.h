// What a shell command writes to stdout: the tests read PDFs back with poppler's pdftotext,
// pdfinfo and pdftoppm, as a person checking the report would.
#pragma once

#include <array>
#include <cstdio>
#include <memory>
#include <string>

namespace reportes::testing {

inline std::string shell_output(const std::string& command) {
    std::string output;
    std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
    if (!pipe) return output;
    std::array<char, 4096> buffer;
    size_t read = 0;
    while ((read = fread(buffer.data(), 1, buffer.size(), pipe.get())) > 0) {
        output.append(buffer.data(), read);
    }
    return output;
}

}  // namespace reportes::testing
