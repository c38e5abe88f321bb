#!/bin/sh
# The program this pipeline builds and ships.
echo "hello from app @VERSION@"
