defmodule PLPMTUD.ReleaseSizeTest do
  use ExUnit.Case, async: true

  @root Path.expand("../..", __DIR__)

  test "the release profile strips the NIF" do
    profile = File.read!(Path.join(@root, "Cargo.toml"))
    assert profile =~ ~r/\[profile\.release\][^\[]*strip = true/s
  end

  test "the shipped NIF is at most 1 MB and loads" do
    %{size: size} = File.stat!(Path.join(@root, "priv/native/plpmtud_nif.so"))
    assert size <= 1_000_000, "priv/native/plpmtud_nif.so is #{size} bytes"
    assert :ok = :plpmtud_nif.status()
  end
end
