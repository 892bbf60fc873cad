import { Template } from '@huggingface/jinja'
import type { EngineFunction, EngineMessage } from '../engine.js'

/** Qwen's ChatML, used only when a model file carries no template of its own. */
export const CHATML_TEMPLATE =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' }}" +
  "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for part in message['content'] %}{{ part['text'] }}{% endfor %}{% endif %}" +
  "{{ '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"

/**
 * Renders messages with the model's own chat template (from its GGUF), so prompts are
 * exactly what the model was trained on. Images become the engine's media marker, the
 * way llama-server's own chat endpoint passes them; the vision projector then wraps
 * each image in its begin/end tokens.
 */
export class ChatTemplate {
  private readonly template: Template

  constructor(
    source: string,
    private readonly specialTokens: { bos?: string; eos?: string } = {},
  ) {
    this.template = new Template(source)
  }

  /**
   * Tools, the calls in assistant messages and the tool results reach the template in
   * the shapes Hugging Face's chat templates read (OpenAI's), so a model's own template
   * places them where it was trained to see them.
   */
  render(messages: EngineMessage[], mediaMarker: string, tools?: readonly EngineFunction[]): string {
    const rendered = messages.map((message) => ({
      role: message.role,
      content: message.content.map((part) => ({ type: 'text', text: part.type === 'text' ? part.text : mediaMarker })),
      ...(message.toolCalls ? { tool_calls: message.toolCalls.map((call) => ({ id: call.id, type: 'function', function: { name: call.name, arguments: call.arguments } })) } : {}),
      ...(message.toolCallId !== undefined ? { tool_call_id: message.toolCallId } : {}),
    }))
    return this.template.render({
      messages: rendered,
      add_generation_prompt: true,
      bos_token: this.specialTokens.bos ?? '',
      eos_token: this.specialTokens.eos ?? '',
      tools: tools && tools.length > 0 ? tools.map((f) => ({ type: 'function', function: f })) : undefined,
    })
  }
}
