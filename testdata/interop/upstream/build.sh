#!/bin/sh
# build: stamps the version into the program.
set -eu
mkdir -p dist
sed "s/@VERSION@/$(cat src/VERSION)/" src/hello.sh > dist/app
chmod 755 dist/app
