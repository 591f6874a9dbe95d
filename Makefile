# plpmtud: build, test and demo entry points. `make test` is what CI runs.
#
# The Rust NIF is put in priv/ by the Mix compiler defined in mix.exs
# (Mix.Tasks.Compile.PlpmtudCargo) as part of `mix compile`, which runs
# scripts/build-nif: a prebuilt library listed in
# native/plpmtud_nif/checksums.txt (downloaded, sha256 checked), else cargo.
# PLPMTUD_BUILD_FROM_SOURCE=1 always builds with cargo; PLPMTUD_SKIP_CARGO=1
# runs nothing and uses an existing priv/native/plpmtud_nif.so.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := test

# rustup installs into ~/.cargo/bin, which non-login shells may lack.
export PATH := $(PATH):$(or $(CARGO_HOME),$(HOME)/.cargo)/bin
# The project has no Mix deps; make sure nothing ever reaches for hex.pm.
export HEX_OFFLINE := 1

DEMO_CMD ?= mix plpmtud.demo

.PHONY: demo test fmt clean tools dialyzer

# Dialyzer over the app's beams from `MIX_ENV=test mix compile` (src/*.erl
# and the Elixir modules), with no warning allowed. The PLTs are built once
# and cached under _build/plt/: erts, kernel, stdlib and crypto (about 50 s
# on 2 cores), then Elixir's elixir, logger and mix on top (about 30 s); the
# analysis itself takes a few seconds. Left out: the test support modules
# (not shipped) and PLPMTUD.Examples.* (example code, owned separately).
PLT_DIR := _build/plt
ERLANG_PLT := $(PLT_DIR)/erlang.plt
ELIXIR_PLT := $(PLT_DIR)/elixir.plt
# Elixir's lib dir (/usr/lib/elixir/lib on Debian); evaluated only when used.
ELIXIR_LIB = $(shell elixir -e 'IO.write(Path.dirname(:code.lib_dir(:elixir)))')
APP_EBIN := _build/test/lib/plpmtud/ebin
DIALYZER_WARNINGS := -Wunmatched_returns -Werror_handling -Wextra_return \
	-Wmissing_return -Wunderspecs

tools:
	scripts/ensure-tools

demo: tools
	$(DEMO_CMD)

# The tests always build the NIF from these sources, never a prebuilt one.
test: export PLPMTUD_BUILD_FROM_SOURCE := 1
test: tools
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo test --workspace
	mix format --check-formatted
	MIX_ENV=test mix compile --warnings-as-errors
	$(MAKE) --no-print-directory dialyzer
	MIX_ENV=test mix test

$(ERLANG_PLT):
	mkdir -p $(PLT_DIR)
	dialyzer --build_plt --apps erts kernel stdlib crypto --output_plt $@.tmp
	mv $@.tmp $@

$(ELIXIR_PLT): $(ERLANG_PLT)
	dialyzer -pa $(ELIXIR_LIB)/elixir/ebin --add_to_plt --plt $(ERLANG_PLT) \
		--output_plt $@.tmp $(addprefix $(ELIXIR_LIB)/,elixir/ebin logger/ebin mix/ebin)
	mv $@.tmp $@

dialyzer: $(ELIXIR_PLT)
	MIX_ENV=test mix compile
	dialyzer -pa $(ELIXIR_LIB)/elixir/ebin --plt $(ELIXIR_PLT) $(DIALYZER_WARNINGS) \
		$$(ls $(APP_EBIN)/*.beam | grep -v -e 'Elixir\.PLPMTUD\.Test\.' -e 'Elixir\.PLPMTUD\.Examples\.')

fmt: tools
	cargo fmt --all
	mix format

clean:
	rm -rf _build priv/native
	-cargo clean
