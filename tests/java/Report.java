/*
 * JSON text for the one-line reports the Java drivers print (Conformance,
 * Transactions): an exception with its causes, and a JSON string literal.
 * Both drivers wrote these the same way, so they share this class; the test
 * fixtures compile it with each driver (compile_java in
 * tests/conformance/conftest.py).
 */
final class Report {
    /** The exception and its causes, outermost first. */
    static String describe(Throwable e) {
        StringBuilder b = new StringBuilder();
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (b.length() > 0) b.append(" <- caused by: ");
            b.append(t.getClass().getName()).append(": ").append(t.getMessage());
        }
        return b.toString();
    }

    /** `s` as a JSON string literal (`null` for null). */
    static String str(String s) {
        if (s == null) return "null";
        StringBuilder b = new StringBuilder("\"");
        for (char ch : s.toCharArray()) {
            switch (ch) {
                case '"': b.append("\\\""); break;
                case '\\': b.append("\\\\"); break;
                case '\n': b.append("\\n"); break;
                case '\r': b.append("\\r"); break;
                case '\t': b.append("\\t"); break;
                default:
                    if (ch < 0x20) b.append(String.format("\\u%04x", (int) ch));
                    else b.append(ch);
            }
        }
        return b.append('"').toString();
    }

    private Report() {}
}
