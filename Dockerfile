# Multi-stage build of a static, non-root sentinel image.
#   docker build -t sentinel:dev .
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/sentinel ./cmd/sentinel

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/sentinel /sentinel
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/sentinel"]
CMD ["run", "--config", "/etc/sentinel/config.yaml"]
