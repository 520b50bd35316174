# Build: docker build -t aftermath .
# Run:   docker run -p 8080:8080 -e PAGERDUTY_WEBHOOK_SECRETS=... -e REDIS_URL=redis://redis:6379/0 aftermath
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/aftermath-dev/aftermath/app.Version=${VERSION}" \
      -o /out/aftermath ./cmd/aftermath

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/aftermath /aftermath
EXPOSE 8080
USER nonroot:nonroot
ENTRYPOINT ["/aftermath"]
CMD ["serve"]
