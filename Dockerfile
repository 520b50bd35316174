# aftermath's image: a static binary on distroless, non-root, no shell.
#
#   make image                      # = docker build --build-arg VERSION=$(git describe) -t aftermath:<version> -t aftermath:dev .
#   docker run --rm aftermath:dev version
#   docker run -p 8080:8080 -e PAGERDUTY_WEBHOOK_SECRETS=... -e REDIS_URL=redis://redis:6379/0 aftermath:dev
#
# The binary is built by the Makefile's build target, the command CI runs
# (.ci/run "build"), so the image and CI build it the same way: CGO off,
# -trimpath, the version stamped into app.Version.
FROM golang:1.26 AS build
WORKDIR /src
# Modules first: this layer is reused while go.mod and go.sum do not change.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN make build VERSION="${VERSION}" && ./bin/aftermath version

# distroless static (Debian 12) holds what a static Go binary needs and no
# shell: the CA certificates at /etc/ssl/certs/ca-certificates.crt (with
# SSL_CERT_FILE pointing there) for PagerDuty, Jira, Slack, SMTP and rediss://;
# tzdata; /etc/passwd with nonroot (65532); /tmp. The rules' time zones resolve
# without tzdata too (the binary embeds time/tzdata).
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /src/bin/aftermath /aftermath
EXPOSE 8080
# Numeric, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 65532:65532
ENTRYPOINT ["/aftermath"]
CMD ["serve"]
