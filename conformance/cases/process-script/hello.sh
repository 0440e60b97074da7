#!/bin/sh
echo script: $0 $1
