# floe — build, test, demo.  `make demo` and `make test` are the two entry
# points of the README; both install what is missing first (scripts/deps.sh).

CC       ?= cc
PYTHON   ?= /usr/bin/python3
BUILD    ?= build
TS_VER   := 0.23.6
TS_DIR   := third_party/node_modules/tree-sitter-python

WARN     := -Wall -Wextra -Wshadow -Wconversion -Wmissing-prototypes -Werror
CSTD     := -std=c11 -D_GNU_SOURCE
OPT      ?= -O2 -g
INCS     := -Isrc -Ipython
PY_INC   := $(shell $(PYTHON) -c 'import sysconfig;print(sysconfig.get_paths()["include"])' 2>/dev/null)
LIBS     := -luv -ljansson -lsqlite3 -ltree-sitter -lzmq -lcrypto -lm -lpthread

# Our sources: every .c under src/ except the CLI entry point.
SRC_ALL  := $(sort $(wildcard src/*/*.c))
SRC_MAIN := src/cli/main.c
SRC_LIB  := $(filter-out $(SRC_MAIN),$(SRC_ALL))
OBJ_LIB  := $(SRC_LIB:%.c=$(BUILD)/%.o)
TS_OBJ   := $(BUILD)/ts/parser.o $(BUILD)/ts/scanner.o

UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
SAN      := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

.PHONY: all deps build test test-long test-valgrind test-unit test-unit-san test-e2e test-fuzz demo bench fuzz clean ext

all: build
build: $(BUILD)/floe ext

deps:
	@scripts/deps.sh

# --- tree-sitter-python grammar, from npm at build time (not committed) -----
$(TS_DIR)/src/parser.c:
	@scripts/fetch-grammar.sh $(TS_VER)

$(BUILD)/ts/%.o: $(TS_DIR)/src/parser.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -O2 -g -fPIC -I$(TS_DIR)/src -w -c $(TS_DIR)/src/$*.c -o $@

$(BUILD)/ts-san/%.o: $(TS_DIR)/src/parser.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -O1 -g -fPIC -I$(TS_DIR)/src -w $(SAN) -c $(TS_DIR)/src/$*.c -o $@

# --- our code ----------------------------------------------------------------
$(BUILD)/src/%.o: src/%.c $(TS_DIR)/src/parser.c
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(OPT) $(WARN) $(INCS) -fPIC -MMD -MP -c $< -o $@

$(BUILD)/floe: $(BUILD)/src/cli/main.o $(OBJ_LIB) $(TS_OBJ)
	$(CC) $(OPT) -o $@ $^ $(LIBS)

# --- CPython extensions (kernel side hot paths) ------------------------------
# Each python/ext/NAME.c becomes python/floe_kernel/NAME<EXT_SUFFIX>, linked
# with the C sources it shares with floe (util, Arrow codec).
EXT_SUFFIX  := $(shell $(PYTHON) -c 'import sysconfig;print(sysconfig.get_config_var("EXT_SUFFIX"))' 2>/dev/null)
EXT_SRC     := $(sort $(wildcard python/ext/*.c))
EXT_LIB_SRC := src/util/util.c $(sort $(wildcard src/store/arrow*.c))
EXT_SO      := $(EXT_SRC:python/ext/%.c=python/floe_kernel/%$(EXT_SUFFIX))
ext: $(EXT_SO)
python/floe_kernel/%$(EXT_SUFFIX): python/ext/%.c $(EXT_LIB_SRC) $(wildcard src/store/*.h src/util/*.h)
	$(CC) $(CSTD) -O2 -g -shared -fPIC $(WARN) -Wno-missing-field-initializers \
	  -Wno-cast-function-type -I$(PY_INC) $(INCS) $< $(EXT_LIB_SRC) -o $@

# --- unit tests ----------------------------------------------------------------
$(BUILD)/unit-registry.h: $(UNIT_SRC)
	@mkdir -p $(BUILD)
	@sed -n 's/^TEST(\([A-Za-z0-9_]*\)).*/TEST_ENTRY(\1)/p' $(UNIT_SRC) > $@

$(BUILD)/unit_tests: tests/unit/runner.c $(UNIT_SRC) $(BUILD)/unit-registry.h $(OBJ_LIB) $(TS_OBJ)
	$(CC) $(CSTD) $(OPT) -Wall -Wextra -Werror $(INCS) -I$(BUILD) -Itests/unit -o $@ \
	  tests/unit/runner.c $(UNIT_SRC) $(OBJ_LIB) $(TS_OBJ) $(LIBS)

# The same, under ASan + UBSan: everything rebuilt with sanitizers.
SAN_OBJ := $(SRC_LIB:%.c=$(BUILD)/san/%.o)
$(BUILD)/san/src/%.o: src/%.c $(TS_DIR)/src/parser.c
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) -O1 -g $(WARN) $(INCS) $(SAN) -MMD -MP -c $< -o $@

$(BUILD)/unit_tests_san: tests/unit/runner.c $(UNIT_SRC) $(BUILD)/unit-registry.h $(SAN_OBJ) $(BUILD)/ts-san/parser.o $(BUILD)/ts-san/scanner.o
	$(CC) $(CSTD) -O1 -g -Wall -Wextra -Werror $(SAN) $(INCS) -I$(BUILD) -Itests/unit -o $@ \
	  tests/unit/runner.c $(UNIT_SRC) $(SAN_OBJ) $(BUILD)/ts-san/parser.o $(BUILD)/ts-san/scanner.o $(LIBS)

test-unit: $(BUILD)/unit_tests
	$(BUILD)/unit_tests

test-unit-san: $(BUILD)/unit_tests_san
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 $(BUILD)/unit_tests_san

# --- fuzzing (libFuzzer, clang) ------------------------------------------------
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)
FUZZ_TIME ?= 10
# The harnesses and our sources under the same warnings as src/; only the
# generated grammar is built without them.
FUZZ_TS := $(BUILD)/fuzz-ts/parser.o $(BUILD)/fuzz-ts/scanner.o
$(BUILD)/fuzz-ts/%.o: $(TS_DIR)/src/parser.c
	@mkdir -p $(dir $@)
	clang $(CSTD) -O1 -g -fsanitize=fuzzer-no-link,address,undefined -I$(TS_DIR)/src -w -c $(TS_DIR)/src/$*.c -o $@

$(BUILD)/fuzz/%: tests/fuzz/%.c $(SRC_LIB) $(FUZZ_TS)
	@mkdir -p $(dir $@)
	clang $(CSTD) -O1 -g -fsanitize=fuzzer,address,undefined $(WARN) $(INCS) -o $@ $< $(SRC_LIB) $(FUZZ_TS) $(LIBS)

fuzz: $(FUZZ_BIN)
	@scripts/run-fuzz.sh $(FUZZ_TIME) $(FUZZ_BIN)

test-fuzz: $(FUZZ_BIN)
	@FUZZ_SEED=1 scripts/run-fuzz.sh 3 $(FUZZ_BIN)

# --- end to end ----------------------------------------------------------------
test-e2e: build
	FLOE=$(abspath $(BUILD)/floe) FLOE_PYTHON=$(PYTHON) FLOE_NO_CACHE=1 $(PYTHON) -m pytest -q -p no:cacheprovider --durations=30 tests/e2e

test-valgrind: build
	FLOE_PYTHON=$(PYTHON) scripts/valgrind-smoke.sh

test: deps
	@$(MAKE) --no-print-directory build test-unit test-unit-san test-fuzz test-valgrind test-e2e

# The whole real-notebook suite (tests/public: every public notebook, three
# modes, against two Jupyter runs): the table first, then every case as a
# test (known differences xfail, strict). `make test` runs its CI subset.
test-long: deps
	@$(MAKE) --no-print-directory build
	FLOE=$(abspath $(BUILD)/floe) FLOE_PYTHON=$(PYTHON) $(PYTHON) tests/public/run.py
	FLOE=$(abspath $(BUILD)/floe) FLOE_PYTHON=$(PYTHON) FLOE_NO_CACHE=1 FLOE_PUBLIC=all FLOE_PUBLIC_REUSE=1 \
	  $(PYTHON) -m pytest -q -p no:cacheprovider tests/e2e/test_public.py
	FLOE=$(abspath $(BUILD)/floe) FLOE_PYTHON=$(PYTHON) FLOE_NO_CACHE=1 FLOE_CHAOS_RUNS=20 FLOE_CHAOS_SEED=random \
	  $(PYTHON) -m pytest -q -p no:cacheprovider tests/e2e/test_chaos.py
	FLOE=$(abspath $(BUILD)/floe) FLOE_PYTHON=$(PYTHON) FLOE_NO_CACHE=1 FLOE_NB_REPEAT=20 \
	  $(PYTHON) -m pytest -q -p no:cacheprovider tests/e2e/test_notebooks.py -k adversarial_parallel_repeated

demo: deps
	@$(MAKE) --no-print-directory build
	$(PYTHON) bench/synthetic.py --demo

bench: deps
	@$(MAKE) --no-print-directory build
	@scripts/bench-all.sh

clean:
	rm -rf $(BUILD) python/floe_kernel/_floe*.so

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
