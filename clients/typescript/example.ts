// Compiled by go test ./clients/typescript against the types that
// openapi-typescript generates from handlers/openapi.json: an application
// that sets details when it posts an event and reads them back from the feed.
import type { components, paths } from "./vitals";

type NewEvent = components["schemas"]["NewEvent"];
type Event = components["schemas"]["Event"];
type EventList =
  paths["/api/v1/events"]["get"]["responses"]["200"]["content"]["application/json"];

const posted: NewEvent = {
  type: "user_registered",
  message: "a listener signed up",
  user_email: "listener@example.com",
  details: { plan: "pro", seats: 3, trial: true, tags: ["radio"], referrer: { campaign: "autumn" } },
};

function planOf(e: Event): string | undefined {
  const plan = e.details?.["plan"];
  return typeof plan === "string" ? plan : undefined;
}

export function plans(list: EventList): (string | undefined)[] {
  return list.events.map(planOf);
}

export const body: string = JSON.stringify([posted]);
