# aws-org-exporter container image.
#   docker build -t aws-org-exporter .
#   docker run --rm -p 9813:9813 aws-org-exporter
FROM debian:bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc make pkg-config libc6-dev git ca-certificates \
      libmicrohttpd-dev libcurl4-gnutls-dev libjansson-dev zlib1g-dev libyaml-dev libcrypt-dev libgnutls28-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN make aws-org-exporter REVISION=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)

FROM debian:bookworm-slim
ARG VERSION=0.1.0
# Where the source lives: docker build --build-arg SOURCE=<repository URL> .
ARG SOURCE=unknown
LABEL org.opencontainers.image.title="aws-org-exporter" \
      org.opencontainers.image.description="Prometheus exporter for AWS Organizations: membership, leave attempts, leave protection" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="${SOURCE}"
RUN apt-get update \
 && apt-get install -y --no-install-recommends libmicrohttpd12 libcurl3-gnutls libjansson4 zlib1g libyaml-0-2 libcrypt1 libgnutls30 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/aws-org-exporter /usr/bin/aws-org-exporter
# Owned by the runtime user: a volume mounted here inherits it.
RUN install -d -o 65534 -g 65534 -m 0700 /var/lib/aws-org-exporter
USER 65534:65534
EXPOSE 9813
# The binary probes itself: no shell or curl in the image.
HEALTHCHECK --interval=30s --timeout=6s --retries=3 \
  CMD ["/usr/bin/aws-org-exporter", "--health-probe=http://127.0.0.1:9813/-/healthy"]
# The CloudTrail state file, when --state.file points here; the root stays read-only.
VOLUME ["/var/lib/aws-org-exporter"]
ENTRYPOINT ["/usr/bin/aws-org-exporter"]
