// Session context: who is signed in, whether the UI may write, sign-out.
import { createContext, useContext } from "react";
import type { Session } from "./api/session";

/** What components read from the session context. */
export interface SessionContextValue {
  session: Session;
  /** True for viewer keys: no create, edit or delete controls. */
  readOnly: boolean;
  signOut: () => void;
}

export const SessionContext = createContext<SessionContextValue | null>(null);

/** The current session; only used below the sign-in gate. */
export function useSession(): SessionContextValue {
  const v = useContext(SessionContext);
  if (!v) throw new Error("useSession outside the signed-in app");
  return v;
}
