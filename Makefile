# plpmtud: build, test and demo entry points. `make test` is what CI runs.
#
# The Rust NIF is built by the Mix compiler defined in mix.exs
# (Mix.Tasks.Compile.PlpmtudCargo) as part of `mix compile`. Set
# PLPMTUD_SKIP_CARGO=1 to make it skip cargo and use an existing
# priv/native/plpmtud_nif.so.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := test

# rustup installs into ~/.cargo/bin, which non-login shells may lack.
export PATH := $(PATH):$(or $(CARGO_HOME),$(HOME)/.cargo)/bin
# The project has no Mix deps; make sure nothing ever reaches for hex.pm.
export HEX_OFFLINE := 1

DEMO_CMD ?= mix plpmtud.demo

.PHONY: demo test fmt clean tools

tools:
	scripts/ensure-tools

demo: tools
	$(DEMO_CMD)

test: tools
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo test --workspace
	mix format --check-formatted
	MIX_ENV=test mix compile --warnings-as-errors
	MIX_ENV=test mix test

fmt: tools
	cargo fmt --all
	mix format

clean:
	rm -rf _build priv/native
	-cargo clean
