exclude =
  if PLPMTUD.Test.Lab.available?() do
    PLPMTUD.Test.Lab.gc()
    []
  else
    IO.puts("Skipping :netns tests: they need root and iproute2 (CI runs them as root).")
    [:netns]
  end

ExUnit.start(exclude: exclude)
