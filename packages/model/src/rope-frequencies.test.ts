// The RoPE table against values worked out by hand from the published definitions, not from the
// code under test: Meta's llama3 `apply_scaling` (llama-models, reference implementation of
// Llama 3.1) and transformers' `_compute_llama3_parameters`, `_compute_linear_scaling_rope_parameters`
// and `_compute_dynamic_ntk_parameters` (src/transformers/modeling_rope_utils.py).
import { describe, expect, it } from 'vitest';
import { ConfigError } from './errors';
import { parseHfConfig } from './hf';
import { layerRopeFrequencies, ropeFrequencies } from './rope-frequencies';
import { randomCheckpoint } from './testdata';

describe('ropeFrequencies', () => {
  // Llama 3.2-1B: head_dim 64, rope_theta 500000, factor 32, low 1, high 4, original 8192.
  // Unscaled f_i = 500000^(-2i/64); wavelength λ_i = 2π/f_i; kept below 8192/4 = 2048,
  // divided by 32 above 8192/1, blended between with s = (8192/λ − 1)/(4 − 1).
  const llama3 = ropeFrequencies(64, 500000, { type: 'llama3', factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 8192 });
  it('llama3: short wavelengths kept, long ones divided by the factor, the band between blended', () => {
    expect(llama3.length).toBe(32);
    expect(llama3[0]).toBe(1); // λ = 2π
    expect(llama3[8]).toBeCloseTo(0.03760603093086393, 15); // 500000^(-1/4), λ ≈ 167
    // i = 15: f = 500000^(-30/64) ≈ 2.1311e-3, λ ≈ 2948.3 → s = (8192/2948.3 − 1)/3 ≈ 0.59284
    expect(llama3[15] / 2.1311195369119653e-3).toBeCloseTo(0.40716 / 32 + 0.59284, 4);
    // i = 16: f = 1/√500000 ≈ 1.41421e-3, λ = 2π·√500000 ≈ 4442.88 → s ≈ 0.281283,
    // f' = f·((1 − s)/32 + s) ≈ 4.29557e-4
    expect(llama3[16]).toBeCloseTo(4.2955679655936815e-4, 12);
    // i = 17: f ≈ 9.38474e-4, λ ≈ 6695.1 → s ≈ 0.0745266, f' ≈ 9.70829e-5
    expect(llama3[17]).toBeCloseTo(9.70828780262767e-5, 12);
    // i = 31: λ far beyond 8192: f/32 = 500000^(-62/64)/32 ≈ 9.41831e-8
    expect(llama3[31]).toBeCloseTo(9.41830672543491e-8, 15);
  });

  it('linear divides every frequency; dynamic raises the base only past the original length', () => {
    const lin = ropeFrequencies(16, 10000, { type: 'linear', factor: 4 });
    expect(lin[0]).toBe(0.25);
    expect(lin[4]).toBeCloseTo(0.01 / 4, 15); // 10000^(-1/2) / 4
    // θ' = 10000·(4·64/16 − 3)^(16/14) = 10000·13^(8/7) ≈ 187533.18 for maxSeqLen 64, original 16
    const dyn = ropeFrequencies(16, 10000, { type: 'dynamic', factor: 4, originalMaxPositions: 16 }, 64);
    expect(dyn[1]).toBeCloseTo(0.2192124598204314, 12); // θ'^(-1/8)
    expect(dyn[7]).toBeCloseTo(2.4325212770526002e-5, 15); // θ'^(-7/8)
    const within = ropeFrequencies(16, 10000, { type: 'dynamic', factor: 4, originalMaxPositions: 64 }, 64);
    expect(within[1]).toBeCloseTo(Math.pow(10000, -1 / 8), 15); // maxSeqLen ≤ original: unscaled
  });

  it("Gemma 3's local layers take rope_local_base_freq unscaled, its global ones rope_theta with the scaling", () => {
    const { config } = randomCheckpoint({ architecture: 'gemma3', nLayers: 3, headDim: 8, nHeads: 2, nKvHeads: 1, slidingWindow: 4, layerTypes: ['sliding', 'sliding', 'full'], ropeTheta: 1e6, ropeLocalTheta: 10000, ropeScaling: { type: 'linear', factor: 8 }, ropeLayout: 'half' });
    expect(layerRopeFrequencies(config, 0)[1]).toBeCloseTo(0.1, 15); // 10000^(-2/8)
    expect(layerRopeFrequencies(config, 2)[1]).toBeCloseTo(Math.pow(1e6, -2 / 8) / 8, 15);
  });
});

describe('parseHfConfig refuses what it would compute wrongly', () => {
  const base = { architectures: ['LlamaForCausalLM'], hidden_size: 64, intermediate_size: 96, num_hidden_layers: 2, num_attention_heads: 4, vocab_size: 50, max_position_embeddings: 64 };
  it.each<[string, Record<string, unknown>, RegExp]>([
    ['an unknown rope_type', { rope_scaling: { rope_type: 'yarn', factor: 4 } }, /rope_scaling\.rope_type = "yarn" is not supported/],
    ['llama3 scaling without its fields', { rope_scaling: { rope_type: 'llama3', factor: 8 } }, /rope_scaling\.low_freq_factor = undefined, expected a number/],
    ['a YaRN field on a known type', { rope_scaling: { rope_type: 'linear', factor: 2, attention_factor: 0.5 } }, /rope_scaling\.attention_factor is not supported/],
    ['another hidden_act', { hidden_act: 'gelu' }, /hidden_act = "gelu", expected "silu"/],
    ['a Gemma with another activation', { architectures: ['Gemma2ForCausalLM'], hidden_activation: 'gelu', head_dim: 16 }, /hidden_activation = "gelu", expected "gelu_pytorch_tanh"/],
    ['attention_bias on Mistral', { architectures: ['MistralForCausalLM'], attention_bias: true }, /attention_bias = true is not supported for MistralForCausalLM/],
    ['mlp_bias', { mlp_bias: true }, /mlp_bias = true is not supported/],
    ['partial rotary', { partial_rotary_factor: 0.5 }, /partial_rotary_factor = 0\.5 is not supported/],
    ['an unknown architecture', { architectures: ['Phi3ForCausalLM'] }, /architectures = \["Phi3ForCausalLM"\], expected one of .*Qwen3ForCausalLM, Gemma2ForCausalLM, Gemma3ForCausalLM/],
    ['heads not a multiple of kv heads', { num_key_value_heads: 3 }, /nHeads = 4 is not a multiple of nKvHeads = 3/],
    ['a bad layer_types entry', { layer_types: ['full_attention', 'chunked_attention'] }, /layer_types\[1\] = "chunked_attention"/],
    ['layer_types of the wrong length', { layer_types: ['full_attention'] }, /layer_types = \["full_attention"\], expected a list of num_hidden_layers = 2 entries/],
    ['sliding layers without a window', { layer_types: ['sliding_attention', 'full_attention'] }, /layer_types has sliding_attention layers but sliding_window = null/],
    ['a bad sliding_window', { architectures: ['MistralForCausalLM'], sliding_window: 0 }, /sliding_window = 0, expected a positive integer or null/],
    ['a head over 256', { num_attention_heads: 1, head_dim: 512 }, /headDim = 512, expected at most 256/],
  ])('%s is a ConfigError naming the field', (_, over, message) => {
    expect(() => parseHfConfig({ ...base, ...over })).toThrow(ConfigError);
    expect(() => parseHfConfig({ ...base, ...over })).toThrow(message);
  });
});
