defmodule PelemayBackend.NxConformance do
  @moduledoc false
  # Nx doctests that do not pass on PelemayBackend.Backend, each with the
  # reason. Kept apart from the test so that the count can be reported.

  @exceptions []

  def doctest_exceptions, do: Enum.map(@exceptions, &elem(&1, 0))
  def exceptions, do: @exceptions
end
