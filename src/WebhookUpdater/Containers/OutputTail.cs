using System.Text;

namespace WebhookUpdater.Containers;

/// <summary>
/// The last characters of what a command wrote, whatever its length: memory stays bounded by
/// twice the capacity however much the command writes.
/// </summary>
internal sealed class OutputTail(int capacity)
{
    private readonly StringBuilder _text = new();
    private readonly Decoder _decoder = Encoding.UTF8.GetDecoder();
    private char[] _chars = [];

    public int Capacity => capacity;

    public void Append(ReadOnlySpan<byte> bytes)
    {
        lock (_text)
        {
            // A decoder, not GetString per chunk: a character split across two reads stays whole.
            var needed = _decoder.GetCharCount(bytes, flush: false);
            if (_chars.Length < needed)
            {
                _chars = new char[Math.Max(needed, 256)];
            }

            var count = _decoder.GetChars(bytes, _chars, flush: false);
            var chars = _chars.AsSpan(0, count);
            if (chars.Length > capacity)
            {
                _text.Clear();
                chars = chars[^capacity..];
            }

            _text.Append(chars);
            if (_text.Length > capacity * 2)
            {
                _text.Remove(0, _text.Length - capacity);
            }
        }
    }

    public void Append(byte[] buffer, int offset, int count) => Append(buffer.AsSpan(offset, count));

    public void Clear()
    {
        lock (_text)
        {
            _text.Clear();
            _decoder.Reset();
        }
    }

    public override string ToString()
    {
        lock (_text)
        {
            return _text.Length <= capacity ? _text.ToString() : _text.ToString(_text.Length - capacity, capacity);
        }
    }
}
