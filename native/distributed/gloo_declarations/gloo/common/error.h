// Declaration only: see ../../README.md.
#pragma once
