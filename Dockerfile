# Herald: build on Debian 12 with its -dev packages, run on bookworm-slim as a non-root user.

FROM debian:bookworm AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      cmake make g++ libasio-dev nlohmann-json3-dev libspdlog-dev doctest-dev node-llhttp libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
ARG HERALD_GIT_SHA=unknown
# The unit tests run here, so an image is only produced from code that passes them.
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DHERALD_GIT_SHA="${HERALD_GIT_SHA}" \
 && cmake --build build -j"$(nproc)" --target herald unit_tests \
 && build/test/unit_tests \
 && strip build/herald

FROM debian:bookworm-slim
# spdlog, fmt and OpenSSL's libcrypto are the only shared libraries beyond libc and libstdc++.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libspdlog1.10 libfmt9 libssl3 \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin herald
COPY --from=build /src/build/herald /usr/local/bin/herald
USER herald
# Every setting is also an environment variable: HERALD_PORT, HERALD_HISTORY_SIZE, ... (herald --help).
ENV HERALD_HOST=0.0.0.0 HERALD_PORT=8080
EXPOSE 8080 8443
STOPSIGNAL SIGTERM
# bash's /dev/tcp keeps curl out of the image.
HEALTHCHECK --interval=10s --timeout=3s --start-period=3s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${HERALD_PORT:-8080} && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && head -c 12 <&3 | grep -q ' 200'"]
ENTRYPOINT ["/usr/local/bin/herald"]
