defmodule PLPMTUDTest do
  use ExUnit.Case, async: true

  test "the NIF is loaded and reports the core version" do
    version = PLPMTUD.core_version()

    assert is_binary(version)
    assert version =~ ~r/^\d+\.\d+\.\d+$/
  end
end
