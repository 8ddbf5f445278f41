"""The sampler: parent-based ratio by default, every standard name, OTEL_TRACES_SAMPLER_ARG checked."""

from __future__ import annotations

import secrets

import pytest
from opentelemetry import context, propagate, trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import Decision, Sampler
from opentelemetry.trace import SpanKind
from pydantic import ValidationError

from halo.config import DEFAULT_SAMPLE_RATIO, Settings, format_validation_error
from halo.observability.tracing import Tracing, root_bound_of, sampler_from, start_with, trace_id_generator

STRONG = secrets.token_urlsafe(48)
LOW_TRACE_ID = 0x0AF7651916CD43DD_0000000000000001  # the ratio samplers look at the low 64 bits
HIGH_TRACE_ID = 0x0AF7651916CD43DD_FFFFFFFFFFFFFFF0


def settings(**values: object) -> Settings:
    return Settings(jwt_secret=STRONG, **values)  # type: ignore[arg-type]


def decision(sampler: Sampler, trace_id: int, traceparent: str | None = None) -> Decision:
    parent = propagate.extract({"traceparent": traceparent} if traceparent else {}, context=context.Context())
    return sampler.should_sample(parent, trace_id, "GET /x", SpanKind.SERVER).decision


def test_the_default_is_parent_based_ratio(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_TRACES_SAMPLER", raising=False)
    monkeypatch.delenv("OTEL_TRACES_SAMPLER_ARG", raising=False)
    loaded = settings()
    assert loaded.otel_traces_sampler == "parentbased_traceidratio"
    assert loaded.otel_traces_sampler_arg == DEFAULT_SAMPLE_RATIO == 0.1
    sampler = sampler_from(loaded)
    assert sampler.get_description().startswith("ParentBased{root:TraceIdRatioBased{0.1}")
    # a new trace: by its id
    assert decision(sampler, LOW_TRACE_ID) is Decision.RECORD_AND_SAMPLE
    assert decision(sampler, HIGH_TRACE_ID) is Decision.DROP
    # a caller's decision is followed, whatever the id
    sampled, unsampled = (f"00-{HIGH_TRACE_ID:032x}-b7ad6b7169203331-{flag}" for flag in ("01", "00"))
    assert decision(sampler, HIGH_TRACE_ID, sampled) is Decision.RECORD_AND_SAMPLE
    assert decision(
        sampler, LOW_TRACE_ID, unsampled.replace(f"{HIGH_TRACE_ID:032x}", f"{LOW_TRACE_ID:032x}")
    ) is (Decision.DROP)


@pytest.mark.parametrize(
    ("name", "ratio", "description"),
    [
        ("always_on", 0.5, "AlwaysOnSampler"),
        ("always_off", 0.5, "AlwaysOffSampler"),
        ("traceidratio", 0.25, "TraceIdRatioBased{0.25}"),
        ("parentbased_always_on", 0.5, "ParentBased{root:AlwaysOnSampler,"),
        ("parentbased_always_off", 0.5, "ParentBased{root:AlwaysOffSampler,"),
        ("parentbased_traceidratio", 0.01, "ParentBased{root:TraceIdRatioBased{0.01},"),
    ],
)
def test_every_standard_sampler_name(
    monkeypatch: pytest.MonkeyPatch, name: str, ratio: float, description: str
) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", name.upper())  # names are case-insensitive
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", str(ratio))
    assert sampler_from(settings()).get_description().startswith(description)


def test_ratio_zero_samples_no_new_trace_and_one_every_new_trace() -> None:
    never = sampler_from(settings(otel_traces_sampler_arg=0))
    always = sampler_from(settings(otel_traces_sampler_arg=1))
    for trace_id in (LOW_TRACE_ID, HIGH_TRACE_ID):
        assert decision(never, trace_id) is Decision.DROP
        assert decision(always, trace_id) is Decision.RECORD_AND_SAMPLE
        # parent-based: an unsampled caller stays unsampled even at ratio 1
        assert decision(always, trace_id, f"00-{trace_id:032x}-b7ad6b7169203331-00") is Decision.DROP


@pytest.mark.parametrize("value", ["abc", "nan", "inf", "1.5", "-0.1", "10%"])
def test_a_bad_ratio_refuses_to_start_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", value)
    with pytest.raises(ValidationError) as info:
        settings()
    assert "OTEL_TRACES_SAMPLER_ARG:" in format_validation_error(info.value)


@pytest.mark.parametrize(
    ("value", "ratio"), [(" 0.25 ", 0.25), ("1e-3", 0.001), ("0", 0.0), ("1", 1.0), ("", 0.1)]
)
def test_good_ratios(monkeypatch: pytest.MonkeyPatch, value: str, ratio: float) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", value)
    assert settings().otel_traces_sampler_arg == ratio


def test_a_drawn_trace_id_goes_to_the_next_root_span_only() -> None:
    provider = TracerProvider(id_generator=trace_id_generator())
    tracer = provider.get_tracer("test")
    start_with(LOW_TRACE_ID)
    drawn = tracer.start_span("first")
    following = tracer.start_span("second")
    assert drawn.get_span_context().trace_id == LOW_TRACE_ID
    assert following.get_span_context().trace_id not in (LOW_TRACE_ID, 0)
    child = tracer.start_span("child", context=trace.set_span_in_context(drawn))
    assert child.get_span_context().trace_id == LOW_TRACE_ID
    provider.shutdown()


@pytest.mark.parametrize(
    ("name", "ratio"),
    [
        ("always_on", 0.5),
        ("always_off", 0.5),
        ("traceidratio", 0.25),
        ("parentbased_always_on", 0.5),
        ("parentbased_always_off", 0.5),
        ("parentbased_traceidratio", 0.1),
        ("parentbased_traceidratio", 0.0),
        ("parentbased_traceidratio", 1.0),
    ],
)
def test_the_new_trace_shortcut_decides_as_the_sampler(name: str, ratio: float) -> None:
    """The server-span middleware decides a request without a caller's context by `root_bound`
    instead of asking the sampler: the two must agree on every trace id."""
    loaded = settings(otel_traces_sampler=name, otel_traces_sampler_arg=ratio)
    sampler, bound = sampler_from(loaded), root_bound_of(loaded)
    tracing = Tracing(None, None, root_bound=bound)  # type: ignore[arg-type]
    ids = [LOW_TRACE_ID, HIGH_TRACE_ID, *(secrets.randbits(128) or 1 for _ in range(2000))]
    sampled = 0
    for trace_id in ids:
        shortcut = tracing.samples_new_trace(trace_id)
        assert shortcut is (decision(sampler, trace_id) is Decision.RECORD_AND_SAMPLE)
        sampled += shortcut
    if 0 < ratio < 1 and name.endswith("traceidratio"):
        assert 0 < sampled < len(ids)
