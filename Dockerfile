# syntax=docker/dockerfile:1
#
# attestor as a container image: one static binary on distroless, entry
# point `attestor`. The `runtime` stage is the published image
# (ghcr.io/attestor/attestor:vX.Y.Z): non-root (65532), for a Cloud Build
# step (`name:` the image) and a Spinnaker Run Job. The last stage, `action`,
# is the image for a GitHub container action (`uses:
# docker://ghcr.io/attestor/attestor:vX.Y.Z-action`; action.yml itself
# installs the release binary on the runner): the same image run as root,
# because GitHub mounts the workspace and the GITHUB_OUTPUT /
# GITHUB_STEP_SUMMARY files owned by the runner's user, and documents that
# a Docker action must not set a non-root USER.
#
#   docker build --target runtime -t attestor \
#     --build-arg VERSION=$(git describe --tags --always --dirty) .
#   docker run --rm attestor version
#
# Base images are build arguments pinned by digest (the tag beside the
# digest says what the image is; the digest decides which image it is). To
# move to a newer base, read the digest of the tag with
#   docker buildx imagetools inspect golang:1.26-bookworm
#   docker buildx imagetools inspect gcr.io/distroless/static-debian12:nonroot
# and change it here in a reviewed commit, or override it for one build:
#   --build-arg GO_IMAGE=golang:1.26-bookworm@sha256:<digest>
#   --build-arg BASE_IMAGE=gcr.io/distroless/static-debian12:nonroot@sha256:<digest>
# (.ci/check-dockerfile fails when a default is not pinned by digest.)
ARG GO_IMAGE=golang:1.26-bookworm@sha256:a688600ca24f8a4d3ca77f95b0dd40704a9fc787c826660eb7ba0b641b8b175d
ARG BASE_IMAGE=gcr.io/distroless/static-debian12:nonroot@sha256:d093aa3e30dbadd3efe1310db061a14da60299baff8450a17fe0ccc514a16639

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
