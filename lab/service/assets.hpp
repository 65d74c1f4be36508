// lab/service/assets.hpp — the files the service serves as they are, compiled in from
// lab/service/web/ (so `racelab serve` is one binary with nothing to install beside it).
#pragma once

#include <string_view>

namespace lab::service::assets {
extern const std::string_view kIndexHtml;    // GET /       the lab's page
extern const std::string_view kDocsHtml;     // GET /docs   the API, interactive
extern const std::string_view kOpenApiJson;  // GET /openapi.json
}  // namespace lab::service::assets
