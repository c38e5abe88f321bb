# syntax=docker/dockerfile:1
# attestor as a container: a GitHub container action, a Cloud Build step
# (`name:` this image) or a Spinnaker Run Job.
#
#   docker build -t attestor --build-arg VERSION=$(git describe --tags --always) .
ARG GO_IMAGE=golang:1.26-bookworm
ARG BASE_IMAGE=gcr.io/distroless/static-debian12:nonroot

FROM ${GO_IMAGE} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=devel
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/attestor ./cmd/attestor

FROM ${BASE_IMAGE}
COPY --from=build /out/attestor /usr/local/bin/attestor
USER 65532:65532
ENTRYPOINT ["attestor"]
