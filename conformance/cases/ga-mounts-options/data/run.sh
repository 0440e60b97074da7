#!/bin/sh
echo executed
