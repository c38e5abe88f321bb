# syntax=docker/dockerfile:1
#
# attestor as a container image: one static binary on distroless, entry
# point `attestor`. The `runtime` stage is the published image
# (ghcr.io/attestor/attestor): non-root (65532), for a Cloud Build step
# (`name:` the image) and a Spinnaker Run Job. The last stage, `action`, is
# what GitHub builds for the container action (action.yml): the same image
# run as root, because GitHub mounts the workspace and the GITHUB_OUTPUT /
# GITHUB_STEP_SUMMARY files owned by the runner's user, and documents that
# a Docker action must not set a non-root USER.
#
#   docker build --target runtime -t attestor \
#     --build-arg VERSION=$(git describe --tags --always --dirty) .
#   docker run --rm attestor version
#
# Base images are build arguments. Pin them by digest for a release; read
# the digest of the tag you want with
#   docker buildx imagetools inspect golang:1.26-bookworm
#   docker buildx imagetools inspect gcr.io/distroless/static-debian12:nonroot
# and pass it:
#   --build-arg GO_IMAGE=golang:1.26-bookworm@sha256:<digest>
#   --build-arg BASE_IMAGE=gcr.io/distroless/static-debian12:nonroot@sha256:<digest>
# (.ci/check-dockerfile with ATTESTOR_REQUIRE_PINNED=1 refuses a release
# build whose bases are not pinned one way or the other.)
ARG GO_IMAGE=golang:1.26-bookworm
ARG BASE_IMAGE=gcr.io/distroless/static-debian12:nonroot

FROM --platform=$BUILDPLATFORM ${GO_IMAGE} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=devel
ARG TARGETOS
ARG TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH:-amd64} \
    go build -trimpath -buildvcs=false -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/attestor ./cmd/attestor

FROM ${BASE_IMAGE} AS runtime
# distroless/static: CA certificates (/etc/ssl/certs/ca-certificates.crt),
# tzdata, /etc/passwd with nonroot (65532); no shell.
COPY --from=build /out/attestor /usr/local/bin/attestor
USER 65532:65532
ENTRYPOINT ["attestor"]
CMD ["version"]

FROM runtime AS action
USER 0:0
